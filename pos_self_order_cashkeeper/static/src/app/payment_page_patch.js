import { patch } from "@web/core/utils/patch";
import { onMounted } from "@odoo/owl";
import { PaymentPage } from "@pos_self_order/app/pages/payment_page/payment_page";
import { CashKeeperKioskPayment } from "./cashkeeper_payment";

// Odoo's kiosk payment page: a CashKeeper method shows CashKeeperKioskPayment, which starts the
// payment itself when shown (Odoo's startPayment only sends card terminals their request).
patch(PaymentPage, { components: { ...PaymentPage.components, CashKeeperKioskPayment } });

patch(PaymentPage.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => {
            // A payment found under way after a reload (Odoo's own onMounted has picked the
            // method already when the kiosk has only one).
            const resumed = this.selfOrder.cashkeeperResumed;
            if (resumed && this.state.selection) {
                this.selectMethod(resumed.method);
            }
        });
    },

    get isCashKeeper() {
        return !this.state.selection && this.selectedPaymentMethod?.use_payment_terminal === "cashkeeper";
    },

    /** Back to the choice of a method, when the kiosk has more than one. */
    get cashkeeperOtherMethod() {
        if (this.selfOrder.models["pos.payment.method"].length < 2) {
            return undefined;
        }
        return () => Object.assign(this.state, { selection: true, paymentMethodId: null });
    },

    startPayment() {
        if (!this.isCashKeeper) {
            return super.startPayment(...arguments);
        }
    },
});
