import { _t } from "@web/core/l10n/translation";
import { AlertDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { PosStore } from "@point_of_sale/app/store/pos_store";
import { RPCError } from "@web/core/network/rpc";
import { patch } from "@web/core/utils/patch";
import { isCashKeeper } from "@pos_cashkeeper/app/payment_cashkeeper";

patch(PosStore.prototype, {
    /**
     * The server keeps an order it refuses (a CashKeeper payment the drawer does not back) as an
     * unpaid order carrying the reason, and saves the rest of the batch. The order being
     * validated stays on the payment screen with the reason (Odoo's own error path); any other
     * refused order is named, and waits in the Orders list.
     */
    async syncAllOrders(options = {}) {
        const result = await super.syncAllOrders(...arguments);
        const refused = Array.isArray(result) ? result.filter((order) => order.cashkeeper_refusal) : [];
        if (!refused.length) {
            return result;
        }
        for (const order of refused) {
            // The server took off the payments the drawer does not back: so does the POS (a line
            // the server does not hold has no server id).
            order.payment_ids.filter((line) => typeof line.id !== "number").forEach((line) => line.delete());
        }
        const body = refused.map((order) => order.cashkeeper_refusal).join("\n\n");
        if (options.throw && refused.some((order) => order.uuid === this.get_order()?.uuid)) {
            const error = new RPCError(body);
            error.exceptionName = "odoo.exceptions.UserError";
            error.data = { message: body };
            throw error;
        }
        this.dialog.add(AlertDialog, { title: _t("CashKeeper"), body });
        return result;
    },

    /**
     * Deleting an order must not orphan cash: an order holding a payment the drawer collected is
     * kept (the server refuses too). Otherwise its CashKeeper lines are cancelled first (the
     * server abandons pending tickets and keeps watching them), and the order is kept when a
     * ticket turned out paid or the server could not be asked.
     */
    async _onBeforeDeleteOrder(order) {
        const lines = order.payment_ids.filter(isCashKeeper);
        if (lines.some((line) => line.get_payment_status() === "done")) {
            // The drawer holds that cash: the order is what puts it in the books.
            this.dialog.add(AlertDialog, {
                title: _t("CashKeeper"),
                body: _t(
                    "The CashKeeper has collected a payment of this order: it cannot be deleted. Validate the order, or refund the customer and ask a manager."
                ),
            });
            return false;
        }
        for (const line of lines.filter((line) => line.get_payment_status() !== "reversed")) {
            const cancelled = await line.payment_method_id.payment_terminal.send_payment_cancel(
                order,
                line.uuid
            );
            if (cancelled !== true) {
                this.dialog.add(AlertDialog, {
                    title: _t("CashKeeper"),
                    body: _t("This order has a CashKeeper payment that could not be cancelled: it was kept."),
                });
                return false;
            }
        }
        return super._onBeforeDeleteOrder(...arguments);
    },
});
