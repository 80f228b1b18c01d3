from odoo.addons.pos_cashkeeper import ckfast
from odoo.addons.pos_cashkeeper.ckfast.simulator import Simulator
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestCKFastInsideOdoo(TransactionCase):
    """The protocol package works inside the Odoo server process, imported through the addon."""

    def test_round_trip_with_simulator_over_tcp(self):
        with Simulator(port=0, pay_after=None) as sim:
            client = ckfast.CKFastClient("127.0.0.1", sim.port, connect_timeout=1, read_timeout=1)
            self.assertFalse(client.create_ticket("ODOO1", "9.99", id_caja="1").already_existed)
            self.assertIs(client.ticket_status("ODOO1").kind, ckfast.ReplyKind.PENDING)
            sim.pay("ODOO1")
            self.assertIs(client.ticket_status("ODOO1").kind, ckfast.ReplyKind.PAID)
            self.assertEqual(sim.requests[0].line, b"C|ODOO1|999||1|||efectivo\r\n")

