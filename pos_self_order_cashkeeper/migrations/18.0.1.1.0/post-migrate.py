"""18.0.1.1.0: kiosk tickets are marked by their purpose (earlier releases knew them by their
payment line's ``kiosk-`` prefix only, which stays the line's key). Idempotent."""


def migrate(cr, version):
    cr.execute("UPDATE pos_cashkeeper_ticket SET purpose = 'kiosk' "
               "WHERE purpose = 'sale' AND payment_uuid LIKE 'kiosk-%%'")
