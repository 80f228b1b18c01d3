{
    "name": "POS CashKeeper",
    "version": "18.0.1.2.0",
    "category": "Sales/Point of Sale",
    "summary": "Collect POS cash payments with a CashKeeper smart cash drawer (CKMonitor / CKFast)",
    "description": """
Integrates CashKeeper cash recyclers with the Odoo Point of Sale: the Odoo server asks the
drawer's CKMonitor service (CKFast protocol over TCP, port 16501) to collect the amount, and the
payment line completes when CKMonitor reports the ticket paid.
""",
    "author": "pos_cashkeeper developers",
    "depends": ["point_of_sale", "mail", "bus"],
    "data": [
        "security/pos_cashkeeper_security.xml",
        "security/ir.model.access.csv",
        "data/pos_cashkeeper_data.xml",
        "views/pos_payment_method_views.xml",
        "views/pos_cashkeeper_ticket_views.xml",
        "views/pos_cashkeeper_agent_views.xml",
        "wizard/pos_cashkeeper_commissioning_views.xml",
    ],
    "demo": ["demo/pos_cashkeeper_demo.xml"],
    "assets": {
        "point_of_sale._assets_pos": ["pos_cashkeeper/static/src/**/*"],
        "web.assets_tests": ["pos_cashkeeper/static/tests/tours/**/*"],
    },
    "installable": True,
    "license": "LGPL-3",
}
