"""Screenshots for the app page (static/description/), taken by tools/screenshots.py through Odoo's
own test browser while the real tours run: a tour's page when it asks the drawer to pay, and a
page when its test code is done. The test classes exist only when CK_SCREENSHOTS names the
folder to write to (test_screenshots.py, and the kiosk bridge's)."""

import base64
import os
import time
from pathlib import Path
from unittest.mock import patch

SHOTS = os.environ.get("CK_SCREENSHOTS")


class ScreenshotMixin:
    browser_size = "1400x900"

    def authenticate(self, user, password, browser=None):
        if browser is not None:  # the browser of a tour or page now starting: keep it for the shots
            self._shot_browser, stop = browser, browser.stop

            def stop_after_the_last_shot():
                if self._shot_at_end:
                    self.shoot(self._shot_at_end)
                    self._shot_at_end = None
                stop()

            browser.stop = stop_after_the_last_shot
        return super().authenticate(user, password, browser=browser)

    def shoot(self, name):
        time.sleep(1.0)  # the last change painted, fonts and images loaded
        # Odoo's browser keeps a copy in its own screenshots folder too (prefix "ck_").
        data = self._shot_browser.take_screenshot("ck_").result(timeout=30)["data"]
        (Path(SHOTS) / name).write_bytes(base64.b64decode(data))

    def shoot_tour(self, run, at_pay=None, at_end=None):
        """``run()`` starts a tour: ``at_pay`` is shot when it asks the drawer to pay, ``at_end`` when it ends."""
        control = self.sim.control

        def shoot_then_control(command):
            if at_pay and command.startswith("pay"):
                self.shoot(at_pay)
            return control(command)

        self._shot_at_end = at_end
        with patch.object(self.sim, "control", shoot_then_control):
            return run()

    def shoot_page(self, name, url, selector, text=""):
        """A backend page as the administrator sees it, once ``selector`` (containing ``text``) shows."""
        code = f"""(async () => {{
            const shown = () => [...document.querySelectorAll({selector!r})].some(
                (el) => el.getClientRects().length && el.textContent.includes({text!r}));
            while (!shown() || document.querySelector(".o_loading_indicator, .o_blockUI")) {{
                await new Promise((resolve) => setTimeout(resolve, 100));
            }}
            await document.fonts.ready;
            console.log("test successful");
        }})()"""
        company = self.main_pos_config.company_id  # the test's company: the administrator works in it
        self.env.ref("base.user_admin").company_ids |= company
        self._shot_at_end = name
        self.browser_js(url, code, login="admin", timeout=120, cookies={"cids": str(company.id)})
