"""Screenshots of the real UI for the module's description page (static/description/).

    tools/dev screenshots [--out DIR] [--kiosk-only] [--icon-only]

The real tours, run by Odoo's own test browser (headless Chromium) against the CKMonitor
simulator, in throwaway databases; the shots are taken at the tours' moments by
tests/screenshots.py (a tour's page when it asks the drawer to pay, a backend page once shown).
Writes, in --out (default static/description; only once all of them were taken):

  pos_waiting_for_cash.png the POS payment screen, the CashKeeper line waiting for cash
  pos_paid.png             the POS once the drawer reported the ticket paid
  payment_method_form.png  the CashKeeper payment method and its drawer settings
  ledger.png               CashKeeper Tickets: paid, cancelled at the drawer, waiting for cash
  reconciliation.png       the reconciliation pivot
  agent_form.png           an on-site agent (cloud mode), online
  kiosk_waiting_for_cash.png  Odoo's self-order kiosk asking for the cash (the kiosk bridge,
                           in a database of its own: --kiosk-only takes just this one)
  icon.png                 the app icon (drawn with Pillow; --icon-only draws only this one)

Exits non-zero when a run fails, naming its log; the databases are dropped in any case.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from odoo_harness import REPO, free_port, odoo_command
from PIL import Image, ImageDraw

RUNS = {  # module installed -> (its screenshot test, the shots it takes)
    "pos_cashkeeper": ("/pos_cashkeeper:TestCashKeeperScreenshots", (
        "pos_waiting_for_cash.png", "pos_paid.png", "payment_method_form.png", "ledger.png", "reconciliation.png",
        "agent_form.png")),
    "pos_self_order_cashkeeper": ("/pos_self_order_cashkeeper:TestKioskScreenshots", ("kiosk_waiting_for_cash.png",)),
}


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


def take(module, tmp):
    """Install ``module`` in a throwaway database and run its screenshot test there."""
    tags, shots = RUNS[module]
    db, log = f"ck_shots_{module}_{os.getpid()}", tmp / f"{module}.log"
    print(f"screenshots: {module} in database {db} (a few minutes); log {log}", flush=True)
    try:
        with open(log, "w") as out:
            proc = subprocess.run(odoo_command(db, tmp / "data", "-i", module, "--test-tags", tags, "--stop-after-init",
                                               f"--http-port={free_port()}", f"--gevent-port={free_port()}"),
                                  env={**os.environ, "CK_SCREENSHOTS": str(tmp / "shots")}, stdout=out,
                                  stderr=subprocess.STDOUT, check=False)
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", db], check=False, capture_output=True)
    missing = [shot for shot in shots if not (tmp / "shots" / shot).exists()]
    if proc.returncode or " 0 failed, 0 error(s) of 1 tests" not in log.read_text(errors="replace") or missing:
        sys.exit(f"screenshots: FAILED ({', '.join(missing) or 'the test failed'}); see {log}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "static" / "description")
    parser.add_argument("--icon-only", action="store_true", help="only draw icon.png")
    parser.add_argument("--kiosk-only", action="store_true", help="only kiosk_waiting_for_cash.png (and the icon)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    draw_icon(args.out / "icon.png")
    print(f"screenshots: wrote {args.out / 'icon.png'}", flush=True)
    if args.icon_only:
        return
    started, tmp = time.monotonic(), Path(tempfile.mkdtemp(prefix="ck-shots-"))
    (tmp / "shots").mkdir()
    for module in RUNS:
        if module == "pos_cashkeeper" and args.kiosk_only:
            continue
        take(module, tmp)
    for shot in sorted((tmp / "shots").glob("*.png")):
        shutil.copyfile(shot, args.out / shot.name)
        print(f"screenshots: wrote {args.out / shot.name}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots: done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
