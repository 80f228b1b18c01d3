from . import (
    test_agent_api,
    test_agent_bus,
    test_agent_tours,
    test_books,
    test_ckfast_in_odoo,
    test_hung_drawer,
    test_i18n,
    test_payment_flow,
    test_payment_method,
    test_reconciliation,
    test_tours,
)
