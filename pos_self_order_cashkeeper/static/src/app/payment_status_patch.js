import { patch } from "@web/core/utils/patch";
import { PosData } from "@point_of_sale/app/models/data_service";

// Odoo sends PAYMENT_STATUS to every kiosk of the config (whichever terminal paid): a kiosk acts
// only on the orders it holds itself, and once per paid order (the bus and a CashKeeper answer may
// both bring it), so that no kiosk shows, or prints, another customer's order.
function forThisKiosk(data, handler) {
    const told = new Set();
    const guarded = (payload) => {
        const token = payload?.data?.["pos.order"]?.[0]?.access_token;
        if (!token || told.has(token) || !data.models["pos.order"].some((o) => o.access_token === token)) {
            return;
        }
        if (payload.payment_result === "Success") {
            told.add(token);
        }
        return handler(payload);
    };
    guarded.forThisKiosk = true;
    return guarded;
}

patch(PosData.prototype, {
    connectWebSocket(channel, method) {
        if (channel === "PAYMENT_STATUS" && !method.forThisKiosk) {
            method = forThisKiosk(this, method);
            (this.paymentStatusHandlers ||= []).push(method);
        }
        return super.connectWebSocket(channel, method);
    },

    /** A payment result learnt otherwise than from the bus (a CashKeeper answer), handled as if the
     * bus had brought it. */
    tellPaymentStatus(payload) {
        for (const handler of this.paymentStatusHandlers || []) {
            handler(payload);
        }
    },
});
