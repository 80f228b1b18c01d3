import { patch } from "@web/core/utils/patch";
import { PosData } from "@point_of_sale/app/models/data_service";

// Odoo sends PAYMENT_STATUS to every kiosk of the config, whichever terminal paid and whenever (a
// manager may pay a kiosk order long after its customer left): a kiosk acts only on the order it is
// taking payment for (``isPaying``, set by the kiosk's service), and once per paid order (the bus,
// a replay after a reload and a CashKeeper answer may all bring it), so that no kiosk shows, or
// prints, another customer's order. (Odoo's kiosk registers one PAYMENT_STATUS handler.)
patch(PosData.prototype, {
    connectWebSocket(channel, method) {
        if (channel === "PAYMENT_STATUS" && !method.forThisKiosk) {
            method = this.forThisKiosk(method);
            (this.paymentStatusHandlers ||= []).push(method);
        }
        return super.connectWebSocket(channel, method);
    },

    forThisKiosk(handler) {
        const guarded = (payload) => {
            const token = payload?.data?.["pos.order"]?.[0]?.access_token;
            if (!token || !this.isPaying?.(token) || this.paymentTold?.has(token)) {
                return;
            }
            if (payload.payment_result === "Success") {
                this.markPaymentTold(token);
            }
            return handler(payload);
        };
        guarded.forThisKiosk = true;
        return guarded;
    },

    /** The order's confirmation was shown (however the kiosk learnt it was paid). */
    markPaymentTold(token) {
        (this.paymentTold ||= new Set()).add(token);
    },

    /** A payment result learnt otherwise than from the bus (a CashKeeper answer), handled as if the
     * bus had brought it. */
    tellPaymentStatus(payload) {
        for (const handler of this.paymentStatusHandlers || []) {
            handler(payload);
        }
    },
});
