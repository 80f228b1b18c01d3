import { PosOrder } from "@point_of_sale/app/models/pos_order";
import { patch } from "@web/core/utils/patch";

patch(PosOrder.prototype, {
    // A CashKeeper payment is cash: where the POS rounds cash only, it is rounded like cash (the
    // drawer gives change in coins that exist). The server refuses an unrounded amount.
    shouldRound(paymentMethod) {
        return (
            super.shouldRound(...arguments) ||
            Boolean(this.config.cash_rounding && paymentMethod.use_payment_terminal === "cashkeeper")
        );
    },
});
