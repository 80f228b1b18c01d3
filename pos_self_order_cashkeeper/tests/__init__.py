from . import test_kiosk_access, test_kiosk_tours
