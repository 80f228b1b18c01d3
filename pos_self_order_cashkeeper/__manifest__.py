{
    "name": "POS Self Order CashKeeper",
    "version": "18.0.1.1.0",
    "category": "Sales/Point of Sale",
    "summary": "Self-service kiosk customers pay cash into a CashKeeper drawer",
    "description": """
Bridge between pos_cashkeeper and the self-order kiosk (pos_self_order): a kiosk can offer a
CashKeeper payment method. The customer inserts the cash, the drawer gives change, and the order
is paid and sent to preparation once, backed by its drawer ticket like any POS payment.
""",
    "author": "pos_cashkeeper developers",
    "depends": ["pos_cashkeeper", "pos_self_order"],
    "auto_install": True,
    "data": ["views/pos_cashkeeper_ticket_views.xml"],
    "assets": {
        "pos_self_order.assets": [
            "pos_cashkeeper/static/src/app/follow.js",
            "pos_self_order_cashkeeper/static/src/**/*",
        ],
        "pos_self_order.assets_tests": [
            "pos_cashkeeper/static/tests/tours/utils/drawer_control.js",
            "pos_self_order_cashkeeper/static/tests/tours/**/*",
        ],
    },
    "installable": True,
    "license": "LGPL-3",
}
