from . import (
    test_i18n,
    test_kiosk_access,
    test_kiosk_screenshots,
    test_kiosk_tours,
    test_kiosk_trust,
    test_kiosk_upgrade,
)
