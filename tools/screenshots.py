"""Screenshots of the real UI for the module's description page (static/description/).

    tools/dev screenshots [--out DIR] [--skip-agent] [--kiosk-only] [--icon-only] [--timeout SECONDS]

A throwaway database with pos_cashkeeper and Odoo's demo data, the CKMonitor simulator (tickets
wait until this script pays or cancels them), Odoo on a free port and headless Chromium driven
over the Chrome DevTools Protocol: the same clicks a cashier makes. Writes, in --out (default
static/description; the screenshots only once all of them were taken):

  payment_method_form.png  the demo "CashKeeper" payment method and its drawer settings
  pos_waiting_for_cash.png the POS payment screen, the CashKeeper line waiting for cash
  pos_paid.png             the POS once the drawer reported the ticket paid
  ledger.png               CashKeeper Tickets: paid, cancelled at the drawer, waiting for cash
  reconciliation.png       the reconciliation pivot
  agent_form.png           an on-site agent (cloud mode), online: the real agent, briefly run
  kiosk_waiting_for_cash.png  Odoo's self-order kiosk asking for the cash (the kiosk bridge,
                           in a database of its own: --kiosk-only takes just this one)
  icon.png                 the app icon (drawn with Pillow; --icon-only draws only this one)

Exits non-zero, naming the step, when something expected never shows up; Odoo, Chromium, the
simulator, the agent and the database are cleaned up in any case.
"""

import argparse
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import websocket
from odoo_harness import Odoo, free_port, start_agent
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ckfast.simulator import Simulator, TicketState  # noqa: E402

WIDTH, HEIGHT = 1400, 900

# Run in `odoo-bin shell`: the demo method pointed at the simulator, and a cloud setup (an
# agent, its API key and a method going through it; kept off the POS so the POS shows one
# CashKeeper button).
SETUP = """
import json
config = env.ref("point_of_sale.pos_config_main")
method = env.ref("pos_cashkeeper.payment_method_cashkeeper_demo")  # the addon's demo data
method.cashkeeper_port = {port}
agent = env["pos.cashkeeper.agent"].create({{"name": "Shop Barcelona", "company_id": config.company_id.id}})
key = agent.action_generate_api_key()["context"]["default_key"]
env["pos.payment.method"].create({{
    "name": "CashKeeper (cloud)", "journal_id": method.journal_id.id, "payment_method_type": "terminal",
    "use_payment_terminal": "cashkeeper", "cashkeeper_agent_id": agent.id,
    "cashkeeper_id_caja": "1", "cashkeeper_terminal": "TPV2", "company_id": config.company_id.id,
}})
env.cr.commit()
print("SHOTS-SETUP " + json.dumps({{"method": method.id, "config": config.id, "agent": agent.id, "key": key}}))
"""


class StepFailed(Exception):
    pass


# -- icon -------------------------------------------------------------------------------------
def draw_icon(path, size=256):
    """A flat app icon: a cash drawer with a banknote going in, on a rounded green square."""
    s = 4  # drawn 4x larger, then downscaled: smooth edges
    big = size * s
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0, y0, x1, y1):  # coordinates on a 256 grid
        return [round(v * big / 256) for v in (x0, y0, x1, y1)]

    def r(v):
        return round(v * big / 256)

    green, dark, white, note, note_dark = "#0f7b6c", "#0a5c51", "#ffffff", "#f4b63f", "#c98a14"
    d.rounded_rectangle(box(0, 0, 256, 256), radius=r(48), fill=green)
    # long flat shadow of the drawer, to the bottom right
    d.polygon([(r(40), r(200)), (r(216), r(200)), (r(256), r(240)), (r(256), r(256)), (r(96), r(256))],
              fill=dark)
    # banknote sliding into the slot
    d.rounded_rectangle(box(74, 40, 182, 118), radius=r(8), fill=note)
    d.ellipse(box(110, 56, 146, 92), outline=note_dark, width=r(7))
    d.rectangle(box(86, 52, 98, 58), fill=note_dark)
    d.rectangle(box(158, 98, 170, 104), fill=note_dark)
    # drawer body, slot, drawer front and handle
    d.rounded_rectangle(box(40, 100, 216, 200), radius=r(14), fill=white)
    d.rounded_rectangle(box(64, 110, 192, 120), radius=r(5), fill=dark)
    d.rounded_rectangle(box(52, 140, 204, 188), radius=r(8), fill="#e3ece9")
    d.rounded_rectangle(box(104, 156, 152, 168), radius=r(6), fill=green)
    # mask to the rounded square (the shadow must not leave it)
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle(box(0, 0, 256, 256), radius=r(48), fill=255)
    img.putalpha(mask)
    img.resize((size, size), Image.LANCZOS).save(path, optimize=True)


# -- Chromium over the DevTools protocol -------------------------------------------------------
def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise StepFailed("Chromium is not installed (apt-get install chromium)")


class Browser:
    def __init__(self, profile, log):
        self.port = free_port()
        args = [find_chromium(), "--headless=new", f"--remote-debugging-port={self.port}",
                "--remote-allow-origins=*", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--lang=en-US", "--force-device-scale-factor=1", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        with open(log, "a") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.ids = itertools.count(1)
        self.ws = None
        try:
            self._connect(log)
        except BaseException:
            self.close()
            raise

    def _connect(self, log):
        deadline = time.monotonic() + 30
        while self.ws is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise StepFailed(f"Chromium did not start; see {log}")
            try:
                pages = requests.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2).json()
                page = next(p for p in pages if p["type"] == "page")
                self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120,
                                                      suppress_origin=True)
            except (requests.RequestException, StopIteration, ValueError, OSError):
                time.sleep(0.2)
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def send(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise StepFailed(f"DevTools {method}: {msg['error'].get('message')}")
                return msg.get("result", {})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise StepFailed(f"JavaScript error: {details.get('exception', {}).get('description') or details}")
        return result.get("result", {}).get("value")

    def set_cookie(self, url, name, value):
        self.send("Network.setCookie", name=name, value=value, url=url)

    def navigate(self, url):
        self.send("Page.navigate", url=url)

    # A visible element matching the selector (and containing the text), found by the page.
    FIND = """(sel, text) => [...document.querySelectorAll(sel)].find(
        (el) => el.getClientRects().length && (!text || el.textContent.includes(text)))"""

    def wait_for(self, step, selector, text="", timeout=30.0):
        """Wait until a visible element matches; raise StepFailed naming the step otherwise."""
        deadline = time.monotonic() + timeout
        script = f"""(async () => {{
            const find = {self.FIND};
            const end = Date.now() + %d;
            while (Date.now() < end) {{
                if (find({json.dumps(selector)}, {json.dumps(text)})) return true;
                await new Promise((resolve) => setTimeout(resolve, 100));
            }}
            return false;
        }})()"""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if self.evaluate(script % int(min(left, 5) * 1000)):
                    return
            except StepFailed as e:  # the page navigated meanwhile: its context is gone, ask again
                if "context" not in str(e).lower():
                    raise
                time.sleep(0.2)
        what = f"{selector!r}" + (f" containing {text!r}" if text else "")
        url = self.evaluate("location.href")
        raise StepFailed(f"step '{step}': {what} did not appear within {timeout:g} s (page: {url})")

    def click(self, step, selector, text="", timeout=30.0):
        self.wait_for(step, selector, text, timeout)
        clicked = self.evaluate(f"""(() => {{
            const el = ({self.FIND})({json.dumps(selector)}, {json.dumps(text)});
            if (!el) return false;
            el.scrollIntoView({{block: "center"}});
            el.click();
            return true;
        }})()""")
        if not clicked:
            raise StepFailed(f"step '{step}': could not click {selector!r} {text!r}")

    def settle(self, seconds=0.8):
        """Let the page finish: no Odoo loading indicator or blocked UI, fonts loaded."""
        self.evaluate("""(async () => {
            await document.fonts.ready;
            const end = Date.now() + 10000;
            while (Date.now() < end && document.querySelector(".o_loading_indicator, .o_blockUI")) {
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        })()""")
        time.sleep(seconds)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png",
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT, "scale": 1})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        with Image.open(path) as img:
            if img.size != (WIDTH, HEIGHT):
                raise StepFailed(f"{path}: {img.size} instead of {WIDTH}x{HEIGHT}")
        print(f"screenshots: took {Path(path).name}", flush=True)

    def close(self):
        if self.ws:
            with contextlib.suppress(Exception):
                self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- Odoo over JSON-RPC ------------------------------------------------------------------------
class Rpc:
    def __init__(self, url, db):
        self.url, self.http = url, requests.Session()
        body = self.http.post(f"{url}/web/session/authenticate", timeout=30, json={
            "jsonrpc": "2.0", "params": {"db": db, "login": "admin", "password": "admin"}}).json()
        if "error" in body or not body.get("result", {}).get("uid"):
            raise StepFailed(f"login as admin/admin failed: {body.get('error', body)}")
        self.session_id = self.http.cookies["session_id"]

    def call(self, path, **params):
        body = self.http.post(f"{self.url}{path}", timeout=60,
                              json={"jsonrpc": "2.0", "method": "call", "params": params}).json()
        if "error" in body:
            raise StepFailed(f"{path}: {body['error']['data']['message']}")
        return body["result"]

    def orm(self, model, method, *args, **kwargs):
        return self.call("/web/dataset/call_kw", model=model, method=method, args=list(args), kwargs=kwargs)


def drawer_payment(rpc, sim, method, session, amount, ref, outcome):
    """A payment through the POS's JSON endpoint, settled at the (simulated) drawer as
    ``outcome`` (paid, cancelled, or pending: left waiting)."""
    params = {"payment_method_id": method, "session_id": session, "payment_uuid": str(uuid.uuid4()),
              "order_uuid": str(uuid.uuid4())}
    result = rpc.call("/pos_cashkeeper/payment/start", amount=amount, order_ref=ref, **params)
    if result["state"] not in ("queued", "pending"):
        raise StepFailed(f"ledger: CKMonitor did not take a new ticket: {result}")
    if outcome != "pending":
        getattr(sim, "pay" if outcome == "paid" else "cancel")(result["ticket"])
    deadline = time.monotonic() + 20
    while result["state"] != outcome:
        if time.monotonic() > deadline:
            raise StepFailed(f"ledger: ticket {result['ticket']} stayed {result['state']}, not {outcome}")
        time.sleep(0.2)
        result = rpc.call("/pos_cashkeeper/payment/status", **params)
    return result["ticket"]


# -- the shots ---------------------------------------------------------------------------------
class Shots:
    def __init__(self, args, odoo, sim, browser, setup, tmp):
        self.args, self.odoo, self.sim, self.browser, self.setup, self.tmp = args, odoo, sim, browser, setup, tmp
        self.base, self.timeout = odoo.url, args.timeout
        self.out = tmp / "shots"  # copied to --out once every shot is taken: never half a set
        self.out.mkdir(exist_ok=True)
        self.rpc = Rpc(self.base, odoo.db)
        browser.set_cookie(self.base, "session_id", self.rpc.session_id)

    def run(self):
        self.payment_method_form()
        self.pos()
        self.ledger()
        self.reconciliation()
        if self.args.skip_agent:
            print("screenshots: --skip-agent: agent_form.png left as it is", flush=True)
        else:
            self.agent_form()

    def payment_method_form(self):
        b = self.browser
        b.navigate(f"{self.base}/odoo/action-point_of_sale.action_pos_payment_method_form/{self.setup['method']}")
        b.wait_for("payment method form", ".o_form_view .o_field_widget[name=cashkeeper_host] input",
                   timeout=self.timeout)
        b.wait_for("payment method form", ".o_form_view .o_horizontal_separator", "CashKeeper drawer")
        b.settle()
        b.screenshot(self.out / "payment_method_form.png")

    def pos(self):
        """Sell a product, pay with CashKeeper, and the drawer takes the cash."""
        b = self.browser
        b.navigate(f"{self.base}/pos/ui?config_id={self.setup['config']}")
        b.click("POS: start", ".screen-login .btn.open-register-btn", timeout=max(self.timeout, 90))
        b.click("POS: open the register", ".modal .modal-footer .btn-primary", "Open Register")
        for product in ("Desk Pad", "LED Lamp", "Letter Tray"):
            b.click(f"POS: add {product}", "article.product .product-name", product, timeout=self.timeout)
            b.wait_for(f"POS: order line {product}", ".order-container .orderline", product)
        b.click("POS: Payment", ".product-screen .pay-order-button")
        b.click("POS: CashKeeper payment method", ".paymentmethods .button.paymentmethod .payment-name", "CashKeeper")
        b.wait_for("POS: waiting for cash", ".paymentlines .cashkeeper_waiting", "Insert the cash in the CashKeeper",
                   timeout=self.timeout)
        b.wait_for("POS: ticket shown", ".paymentlines .cashkeeper_ticket", "Ticket")
        b.settle()
        b.screenshot(self.out / "pos_waiting_for_cash.png")
        pending = [t.ticket_id for t in self.sim.tickets().values() if t.state is TicketState.PENDING]
        if len(pending) != 1:
            raise StepFailed(f"POS: expected one ticket waiting at the drawer, the simulator has {pending}")
        self.sim.pay(pending[0])
        b.wait_for("POS: paid", ".pos .receipt-screen .pos-receipt", timeout=self.timeout)
        b.settle(1.5)
        b.screenshot(self.out / "pos_paid.png")

    def ledger(self):
        """A few more payments on the session the POS opened, left in different states."""
        sessions = self.rpc.orm("pos.session", "search_read",
                                [("config_id", "=", self.setup["config"]), ("state", "=", "opened")],
                                fields=["id", "name"])
        if not sessions:
            raise StepFailed("ledger: the POS did not open a session")
        session = sessions[0]["id"]
        # the next order references after the POS's own (e.g. 00003-001-0001)
        first = self.rpc.orm("pos.cashkeeper.ticket", "search_read", [], fields=["order_ref"], limit=1)
        prefix = (first[0]["order_ref"] or "").rpartition("-")[0] if first else ""
        payments = ((24.5, "paid"), (9.9, "cancelled"), (132.0, "paid"), (57.25, "pending"))
        for number, (amount, outcome) in enumerate(payments, start=2):
            ref = f"{prefix or 'Order'}-{number:04d}"
            drawer_payment(self.rpc, self.sim, self.setup["method"], session, amount, ref, outcome)
        b = self.browser
        b.navigate(f"{self.base}/odoo/action-pos_cashkeeper.action_pos_cashkeeper_ticket")
        b.wait_for("ledger", ".o_list_view .o_data_row", timeout=self.timeout)
        b.wait_for("ledger", ".o_list_view .o_data_row .badge", "Cancelled")
        rows = b.evaluate("document.querySelectorAll('.o_list_view .o_data_row').length")
        if rows != len(payments) + 1:
            raise StepFailed(f"ledger: {rows} ticket rows shown, expected {len(payments) + 1}")
        b.settle()
        b.screenshot(self.out / "ledger.png")

    def reconciliation(self):
        b = self.browser
        b.navigate(f"{self.base}/odoo/action-pos_cashkeeper.action_pos_cashkeeper_reconciliation")
        b.wait_for("reconciliation", ".o_pivot table .o_pivot_cell_value", timeout=self.timeout)
        b.wait_for("reconciliation", ".o_pivot table thead", "Paid")
        b.settle()
        b.screenshot(self.out / "reconciliation.png")

    def agent_form(self):
        """The real on-site agent against this Odoo and the simulator, until it shows online."""
        log = self.tmp / "agent.log"
        agent = start_agent(self.base, self.setup["key"], self.sim.port, log, database=self.odoo.db)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                status = self.rpc.orm("pos.cashkeeper.agent", "read", [self.setup["agent"]],
                                      ["status", "ckmonitor_reachable"])[0]
                if status["status"] == "online" and status["ckmonitor_reachable"]:
                    break
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise StepFailed(f"agent: not online ({status['status']}); see {log}")
                time.sleep(0.5)
            b = self.browser
            b.navigate(f"{self.base}/odoo/action-pos_cashkeeper.action_pos_cashkeeper_agent/{self.setup['agent']}")
            b.wait_for("agent form", ".o_form_view .o_field_widget[name=status] .badge", "Online",
                       timeout=self.timeout)
            b.settle()
            b.screenshot(self.out / "agent_form.png")
        finally:
            if agent.poll() is None:
                agent.terminate()  # it says goodbye to Odoo, which is still up
                try:
                    agent.wait(15)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait(5)


def kiosk_shot(browser, url, out, timeout):
    """A customer at the demo kiosk orders a sandwich and a drink and pays with the CashKeeper."""
    browser.navigate(url)
    browser.wait_for("kiosk: landing page", ".btn", "Order Now", timeout=max(timeout, 90))
    deadline = time.monotonic() + timeout
    while not browser.evaluate("!!document.querySelector('.self_order_product_card')"):
        if time.monotonic() > deadline:  # the landing page's animation may swallow a click
            raise StepFailed("kiosk: Order Now did not open the products")
        browser.click("kiosk: Order Now", ".btn", "Order Now")
        time.sleep(0.5)
    for product in ("Club Sandwich", "Coca-Cola"):
        browser.click(f"kiosk: add {product}", ".self_order_product_card span", product, timeout=timeout)
    browser.click("kiosk: Order", ".btn", "Order")
    browser.click("kiosk: Pay", ".btn", "Pay")
    browser.wait_for("kiosk: waiting for cash", ".o_cashkeeper_insert", "Insert", timeout=timeout)
    browser.wait_for("kiosk: ticket shown", ".o_cashkeeper_ticket", "Ticket")
    browser.settle()
    browser.screenshot(out / "kiosk_waiting_for_cash.png")


def make_kiosk_shot(args, tmp):
    """The kiosk bridge brings Odoo's pos_self_order (and pos_restaurant): a database of its own,
    so that the other shots show the POS as a shop without a kiosk has it."""
    db = f"ck_shots_kiosk_{os.getpid()}"
    odoo = Odoo(db, tmp / "data", tmp / "odoo-kiosk.log")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(drop_database, db)
        print(f"screenshots: creating database {db} with the kiosk bridge; log {odoo.log}", flush=True)
        odoo.install("pos_self_order_cashkeeper")
        sim = start_simulator()
        cleanup.callback(sim.stop)
        kiosk = odoo.open_kiosk(sim.port)
        cleanup.callback(odoo.stop)
        odoo.start()
        browser = Browser(tmp / "chromium-kiosk", tmp / "chromium.log")
        cleanup.callback(browser.close)
        (tmp / "shots").mkdir(exist_ok=True)
        try:
            kiosk_shot(browser, odoo.url + kiosk["route"], tmp / "shots", args.timeout)
        except StepFailed:
            with contextlib.suppress(Exception):
                browser.screenshot(tmp / "failure.png")
            raise


def drop_database(db):
    subprocess.run(["dropdb", "--if-exists", "--force", db], check=False, capture_output=True)


def start_simulator():
    """CKMonitor's usual port when it is free (the payment method form shows it), else any."""
    try:
        return Simulator(port=16501, control_port=0, pay_after=None).start()
    except OSError:
        return Simulator(port=0, control_port=0, pay_after=None).start()


def make_shots(args, tmp):
    """Everything started here is stopped on the way out (last started, first stopped)."""
    db = f"ck_shots_{os.getpid()}"
    odoo = Odoo(db, tmp / "data", tmp / "odoo.log")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(drop_database, db)
        print(f"screenshots: creating database {db} with demo data (about a minute); log {odoo.log}", flush=True)
        odoo.install()
        sim = start_simulator()
        cleanup.callback(sim.stop)
        setup = odoo.shell(SETUP.format(port=sim.port), "SHOTS-SETUP")
        cleanup.callback(odoo.stop)
        odoo.start()
        browser = Browser(tmp / "chromium", tmp / "chromium.log")
        cleanup.callback(browser.close)
        try:
            Shots(args, odoo, sim, browser, setup, tmp).run()
        except StepFailed:
            with contextlib.suppress(Exception):
                browser.screenshot(tmp / "failure.png")
            raise


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "static" / "description")
    parser.add_argument("--skip-agent", action="store_true", help="no agent_form.png (no agent process)")
    parser.add_argument("--icon-only", action="store_true", help="only draw icon.png")
    parser.add_argument("--kiosk-only", action="store_true", help="only kiosk_waiting_for_cash.png (and the icon)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a step may wait (default 60)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    draw_icon(args.out / "icon.png")
    print(f"screenshots: wrote {args.out / 'icon.png'}", flush=True)
    if args.icon_only:
        return
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ck-shots-"))
    try:
        if not args.kiosk_only:
            make_shots(args, tmp)
        make_kiosk_shot(args, tmp)
        for shot in sorted((tmp / "shots").glob("*.png")):
            shutil.copyfile(shot, args.out / shot.name)
            print(f"screenshots: wrote {args.out / shot.name}", flush=True)
    except StepFailed as e:
        sys.exit(f"screenshots: FAILED: {e}\n  logs (and failure.png, the page at that moment) kept in {tmp}")
    except subprocess.CalledProcessError as e:
        sys.exit(f"screenshots: FAILED: {e}; logs kept in {tmp}")
    finally:
        for profile in ("chromium", "chromium-kiosk"):  # the browser profiles: big, useless
            shutil.rmtree(tmp / profile, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots: done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
