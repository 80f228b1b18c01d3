import { onMounted } from "@odoo/owl";
import { PaymentScreen } from "@point_of_sale/app/screens/payment_screen/payment_screen";
import { floatIsZero } from "@web/core/utils/numbers";
import { patch } from "@web/core/utils/patch";
import { isCashKeeper, KEEP_FOR_RETRY } from "@pos_cashkeeper/app/payment_cashkeeper";

const WAITING = ["waiting", "waitingCard", "waitingCancel", "timeout"];
const CANCELLABLE = ["waiting", "waitingCard", "timeout"]; // as in PaymentScreen.deletePaymentLine

patch(PaymentScreen.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => {
            // After a reload or POS restart, each CashKeeper line still waiting resumes its ticket
            // (the server finds it by the line's uuid) instead of starting another one.
            const lines = (this.currentOrder?.payment_ids || []).filter(
                (line) =>
                    isCashKeeper(line) &&
                    WAITING.includes(line.get_payment_status()) &&
                    !line.payment_method_id.payment_terminal.isFollowing(line.uuid)
            );
            for (const line of lines) {
                this.sendPaymentRequest(line);
            }
        });
    },

    async sendPaymentRequest(line) {
        await super.sendPaymentRequest(...arguments);
        // Odoo validates after a terminal payment when nothing is due before rounding; a
        // CashKeeper line is cash, paid at the rounded amount (2.00 for 1.98): then nothing is
        // due once rounded (no change either), and it validates the same way. Core already
        // validated when the unrounded due was 0.
        const order = line.pos_order_id;
        const decimals = this.pos.currency.decimal_places;
        if (
            isCashKeeper(line) &&
            line.get_payment_status() === "done" &&
            this.pos.config.cash_rounding &&
            this.pos.config.auto_validate_terminal_payment &&
            order === this.currentOrder &&
            order.is_paid() &&
            floatIsZero(order.get_change(), decimals) &&
            !floatIsZero(order.get_due(), decimals)
        ) {
            this.validateOrder(false);
        }
    },

    async sendPaymentCancel(line) {
        if (!isCashKeeper(line)) {
            return super.sendPaymentCancel(...arguments);
        }
        // Odoo's Cancel button: a ticket paid meanwhile completes the line (done stays done), one
        // paid after an earlier cancel keeps it with Retry, a failed cancel keeps it waiting.
        line.set_payment_status("waitingCancel");
        const cancelled = await line.payment_method_id.payment_terminal.send_payment_cancel(
            this.currentOrder,
            line.uuid
        );
        if (line.get_payment_status() === "done") {
            return;
        }
        if (cancelled) {
            line.set_payment_status("retry");
            this.pos.paymentTerminalInProgress = false;
        } else {
            line.set_payment_status("waitingCard");
        }
    },

    deletePaymentLine(uuid) {
        const line = this.paymentLines.find((line) => line.uuid === uuid);
        const status = line?.get_payment_status();
        if (!isCashKeeper(line) || ["done", "reversed", "waitingCancel"].includes(status)) {
            return super.deletePaymentLine(uuid);
        }
        if (status === "waiting") {
            return; // the ticket is being created: wait for it (the line then offers Cancel)
        }
        // Unlike card terminals, a drawer ticket may take cash even after a failed or cancelled
        // attempt: ask the server first (it abandons a pending ticket and keeps watching it),
        // remove the line only then, and never when the ticket turned out paid.
        line.set_payment_status("waitingCancel");
        line.payment_method_id.payment_terminal
            .send_payment_cancel(this.currentOrder, uuid)
            .then((cancelled) => {
                if (cancelled === true) {
                    this.currentOrder.remove_paymentline(line);
                    this.numberBuffer.reset();
                } else if (cancelled === KEEP_FOR_RETRY) {
                    line.set_payment_status("retry");
                } else if (line.get_payment_status() === "waitingCancel") {
                    line.set_payment_status(CANCELLABLE.includes(status) ? "waitingCard" : status);
                }
            });
    },
});
