from . import test_ckfast_in_odoo
