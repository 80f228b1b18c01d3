import re
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..ckfast import AmountFormat, CreateTicket
from ..ckfast.client import DEFAULT_PORT
from ..ckfast.errors import CKFastFieldError, CKFastProtocolError, CKMonitorTimeout, CKMonitorUnreachable
from ..ckfast.protocol import validate_text_field
from .cashkeeper_states import OPEN_STATES
from .cashkeeper_transport import transport_for

# Drawer settings are for POS managers only; cashiers' browsers never receive them (they are
# not in _load_pos_data_fields) and server code reads them with sudo().
MANAGERS = "point_of_sale.group_pos_manager"
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-:]{0,252}[A-Za-z0-9])?")  # fullmatch: no trailing newline
# What commissioning checked: changing one of these (another drawer, another format) undoes it.
COMMISSIONED_WITH = {"use_payment_terminal", "cashkeeper_amount_format", "cashkeeper_agent_id", "cashkeeper_host",
                     "cashkeeper_port"}
TEXT_FIELDS = {  # Odoo field -> CKFast field name, for messages
    "cashkeeper_id_caja": "IDCaja",
    "cashkeeper_terminal": "Terminal",
    "cashkeeper_vendedor": "Vendedor",
    "cashkeeper_forma_pago": "FormaPago",
}


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    # The agent is the one stored choice of mode (set: cloud mode); the toggle only shows it.
    cashkeeper_agent_id = fields.Many2one("pos.cashkeeper.agent", string="Agent", groups=MANAGERS,
                                          ondelete="restrict", check_company=True)
    cashkeeper_use_agent = fields.Boolean(
        string="Use on-site agent", groups=MANAGERS, compute="_compute_cashkeeper_use_agent",
        inverse="_inverse_cashkeeper_use_agent", readonly=False,
        help="Cloud mode, for an Odoo that cannot reach the shop's network (Odoo.sh, hosting): the CashKeeper "
        "agent installed next to CKMonitor takes the payments from Odoo and talks to the drawer.",
    )
    cashkeeper_agent_status = fields.Char(related="cashkeeper_agent_id.status_text", string="Agent status",
                                          groups=MANAGERS)
    cashkeeper_host = fields.Char(
        string="CKMonitor host", groups=MANAGERS,
        help="IP address or name of the Windows PC running CKMonitor (127.0.0.1 if it is the Odoo server).",
    )
    cashkeeper_port = fields.Integer(string="CKMonitor port", default=DEFAULT_PORT, groups=MANAGERS)
    cashkeeper_id_caja = fields.Char(string="ID caja", groups=MANAGERS, help="POS/till number sent as IDCaja.")
    cashkeeper_terminal = fields.Char(string="Terminal", groups=MANAGERS)
    cashkeeper_vendedor = fields.Char(string="Vendedor", groups=MANAGERS, help="Seller code sent as Vendedor.")
    cashkeeper_forma_pago = fields.Char(string="Forma pago", default="efectivo", groups=MANAGERS)
    cashkeeper_amount_format = fields.Selection(
        [(amount_format.value, amount_format.label) for amount_format in AmountFormat],
        string="Amount format", default=AmountFormat.CENTS.value, groups=MANAGERS,
        help="How the amount (Importe) is written for CKMonitor. A wrong format charges 100 times too much "
        "or too little: check it with a small test payment before going live.",
    )
    cashkeeper_commissioned_at = fields.Datetime(
        string="Commissioned on", groups=MANAGERS, readonly=True, copy=False,
        help="When the amount format was checked against the drawer's screen (Commission button).",
    )
    cashkeeper_commissioned_by = fields.Many2one("res.users", string="Commissioned by", groups=MANAGERS,
                                                 readonly=True, copy=False)
    cashkeeper_payouts = fields.Boolean(
        string="Refunds paid out at the drawer", groups=MANAGERS,
        help="Off: a refund (negative line) is refused on this method. On: the cashier pays it out at the "
             "CashKeeper, through its own screen or menu, and confirms it in the POS; Odoo records the payout as "
             "declared by the cashier (the drawer does not confirm it).")
    cashkeeper_payout_by_manager = fields.Boolean(
        string="A POS manager confirms payouts", groups=MANAGERS,
        help="A cashier's payout then waits until a POS manager confirms it (Point of Sale > Orders > CashKeeper "
             "Tickets); a manager's own payout counts as confirmed.")
    cashkeeper_connect_timeout = fields.Float(
        string="Connect timeout (s)", default=3.0, groups=MANAGERS,
        help="Seconds to open the TCP connection to CKMonitor.",
    )
    cashkeeper_read_timeout = fields.Float(
        string="Reply timeout (s)", default=5.0, groups=MANAGERS,
        help="Seconds CKMonitor may take to answer one request.",
    )

    @api.depends("cashkeeper_agent_id")
    def _compute_cashkeeper_use_agent(self):
        for method in self:
            method.cashkeeper_use_agent = bool(method.cashkeeper_agent_id)

    def _inverse_cashkeeper_use_agent(self):
        self.filtered(lambda m: not m.cashkeeper_use_agent).cashkeeper_agent_id = False

    @api.model
    def _cashkeeper_check_agent_chosen(self, vals, agent=False):
        """"Use on-site agent" without an agent: say so, before the host is found missing."""
        if vals.get("cashkeeper_use_agent") and not vals.get("cashkeeper_agent_id", agent):
            raise ValidationError(_("CashKeeper: choose the on-site agent that serves this payment method."))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._cashkeeper_check_agent_chosen(vals)
        methods = super().create(vals_list)
        methods._cashkeeper_book_to_journal()
        return methods

    def write(self, vals):
        for method in self.sudo():
            self._cashkeeper_check_agent_chosen(vals, method.cashkeeper_agent_id)
        self._cashkeeper_check_rerouting(vals)
        if COMMISSIONED_WITH & set(vals) and not self.env.context.get("cashkeeper_commissioning"):
            vals = {**vals, "cashkeeper_commissioned_at": False, "cashkeeper_commissioned_by": False}
        result = super().write(vals)
        if {"use_payment_terminal", "journal_id", "outstanding_account_id"} & set(vals):
            self._cashkeeper_book_to_journal()
        return result

    def _is_write_forbidden(self, fields):
        # The server reads the payout settings on each refund, the POS never loads them: a manager
        # may change them while registers are open.
        return super()._is_write_forbidden(fields - {"cashkeeper_payouts", "cashkeeper_payout_by_manager"})

    def _cashkeeper_book_to_journal(self):
        """A drawer is where the cash is: CashKeeper payments are booked straight to the journal's own
        (cash-type) account at closing, not to an outstanding account that no bank statement will ever
        clear. Odoo then counts the payment as matched: nothing is left to reconcile by hand."""
        for method in self.filtered(lambda m: m.use_payment_terminal == "cashkeeper" and m.journal_id.type == "bank"):
            account = method.journal_id.default_account_id
            if account and method.outstanding_account_id != account:
                super(PosPaymentMethod, method).write({"outstanding_account_id": account.id})

    def _cashkeeper_check_rerouting(self, vals):
        # Where a method's tickets are sent must not change under a ticket that may still take
        # cash: the old drawer would lose its watcher, and a resend could reach another drawer.
        routing = {"use_payment_terminal", "cashkeeper_agent_id", "cashkeeper_host", "cashkeeper_port"} & set(vals)
        if routing:
            def current(method, fname):
                value = method[fname]
                return value.id if method._fields[fname].type == "many2one" else value

            changed = self.sudo().filtered(
                lambda m: any((current(m, f) or False) != (vals[f] or False) for f in routing))
            open_tickets = self.env["pos.cashkeeper.ticket"].sudo().search_count(
                [("payment_method_id", "in", changed.ids), ("state", "in", OPEN_STATES)])
            if open_tickets:
                raise UserError(_(
                    "%(count)s CashKeeper ticket(s) of this payment method may still take cash: settle them "
                    "(Point of Sale > Orders > CashKeeper Tickets) before changing where the drawer is.",
                    count=open_tickets))

    def _get_payment_terminal_selection(self):
        return [*super()._get_payment_terminal_selection(), ("cashkeeper", "CashKeeper")]

    @api.constrains(
        "use_payment_terminal", "cashkeeper_agent_id", "cashkeeper_host", "cashkeeper_port", "cashkeeper_id_caja",
        "cashkeeper_terminal", "cashkeeper_vendedor", "cashkeeper_forma_pago",
        "cashkeeper_connect_timeout", "cashkeeper_read_timeout",
    )
    def _check_cashkeeper_settings(self):
        for method in self.sudo().filtered(lambda m: m.use_payment_terminal == "cashkeeper"):
            host = (method.cashkeeper_host or "").strip()
            direct = not method.cashkeeper_agent_id  # in cloud mode the agent knows where CKMonitor is
            if direct and not host:
                raise ValidationError(
                    _("CashKeeper: enter the CKMonitor host (IP address of the PC running CKMonitor).")
                )
            if direct and not HOSTNAME.fullmatch(host):
                raise ValidationError(
                    _("CashKeeper: the CKMonitor host %r is not a valid IP address or host name.", host)
                )
            if not 1 <= method.cashkeeper_port <= 65535:
                raise ValidationError(_("CashKeeper: the CKMonitor port must be between 1 and 65535 (default 16501)."))
            for fname, ckfast_name in TEXT_FIELDS.items():
                try:
                    validate_text_field(ckfast_name, method[fname] or "", allow_empty=fname != "cashkeeper_forma_pago")
                except CKFastFieldError as e:
                    label = method._fields[fname]._description_string(self.env)
                    raise ValidationError(
                        _("CashKeeper: %(field)s %(reason)s.", field=label, reason=e.reason)
                    ) from None
            for fname in ("cashkeeper_connect_timeout", "cashkeeper_read_timeout"):
                if not 0 < method[fname] <= 60:
                    label = method._fields[fname]._description_string(self.env)
                    raise ValidationError(_("CashKeeper: %s must be more than 0 and at most 60 seconds.", label))

    def _cashkeeper_create_request(self, ticket_id, amount, currency, amount_format=None):
        """The ``C`` line for a ticket, from this method's settings (the only place they are mapped
        to CKFast fields). Stored on the ticket and resent as is, by the server or the agent.
        ``amount_format``: commissioning's probes write the amount in a given format."""
        method = self.sudo()
        try:
            line = CreateTicket(
                ticket_id, amount,
                amount_format=amount_format or AmountFormat(method.cashkeeper_amount_format or "cents"),
                decimals=currency.decimal_places,
                id_caja=method.cashkeeper_id_caja or "",
                terminal=method.cashkeeper_terminal or "",
                vendedor=method.cashkeeper_vendedor or "",
                forma_pago=method.cashkeeper_forma_pago or "efectivo",
            ).encode()
        except CKFastFieldError as e:
            raise UserError(_("The CashKeeper cannot take this payment: %(field)s %(reason)s.", field=e.field,
                              reason=e.reason)) from None
        return line.decode("ascii").removesuffix("\r\n")

    def _cashkeeper_transport(self):
        return transport_for(self)

    def action_cashkeeper_commission(self):
        """Form button: the commissioning wizard (the drawer's amount format, checked on its screen)."""
        self.ensure_one()
        self._cashkeeper_check_manager()
        wizard = self.env["pos.cashkeeper.commissioning"].create({"method_id": self.id})
        return wizard._reopen()

    def action_cashkeeper_test_connection(self):
        """Form button: ask CKMonitor (or what the agent last said) and say, plainly, what happened."""
        self.ensure_one()
        self._cashkeeper_check_manager()
        started = time.monotonic()
        kind, title, message = self._cashkeeper_transport().connection_report(
            lambda: (time.monotonic() - started) * 1000)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": kind == "danger"},
        }

    def _cashkeeper_check_manager(self):
        # Buttons are public methods: a cashier could call them over RPC, and they reach the drawer.
        if not self.env.user.has_group(MANAGERS):
            raise AccessError(_("Only Point of Sale managers can do this with a CashKeeper."))

    def _cashkeeper_drawer(self):
        return self._cashkeeper_transport().drawer

    def _cashkeeper_same_drawer(self):
        """The CashKeeper methods (this one too, archived ones too) whose tickets reach this drawer."""
        drawer = self._cashkeeper_drawer()
        methods = self.sudo().with_context(active_test=False).search([("use_payment_terminal", "=", "cashkeeper")])
        return methods.filtered(lambda m: m._cashkeeper_drawer() == drawer)

    def _cashkeeper_endpoint(self):
        method = self.sudo()
        return f"{method.cashkeeper_host}:{method.cashkeeper_port}"

    def _cashkeeper_error_message(self, error):
        """A short message a cashier or an admin can act on."""
        # The fault's own address: in cloud mode it is the agent's view of the drawer.
        endpoint = f"{error.host}:{error.port}" if hasattr(error, "host") else self._cashkeeper_endpoint()
        if isinstance(error, CKMonitorUnreachable):
            return _("Cannot reach the CashKeeper (CKMonitor at %(endpoint)s: %(cause)s). Check that CKMonitor is "
                     "running and that the firewall allows the port.", endpoint=endpoint, cause=error.cause)
        if isinstance(error, CKMonitorTimeout):
            return _("The CashKeeper (CKMonitor at %(endpoint)s) did not answer in %(seconds)s s. It may be busy.",
                     endpoint=endpoint, seconds=format(error.seconds, "g"))
        if isinstance(error, CKFastProtocolError):
            raw = error.printable
            return _("CKMonitor at %(endpoint)s answered something unexpected (%(raw)s). Check the amount format "
                     "and CKMonitor's version.", endpoint=endpoint, raw=raw)
        return str(error)
