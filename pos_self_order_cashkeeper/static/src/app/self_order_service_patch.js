import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { rpc, ConnectionLostError } from "@web/core/network/rpc";
import { SelfOrder } from "@pos_self_order/app/self_order_service";

// A kiosk keeps no order across a reload: the order whose CashKeeper payment is under way is
// remembered here (its access token and the method), so that a reloaded kiosk resumes it or
// shows how it ended. The server's ledger decides what was paid; this only finds the order.
const storageKey = (config) => `pos_cashkeeper.kiosk.${config.id}`;

patch(SelfOrder.prototype, {
    async setup() {
        await super.setup(...arguments);
        if (this.config.self_ordering_mode !== "kiosk") {
            return;
        }
        this.cashkeeperWake = null; // set by the payment page while it follows a ticket
        this.cashkeeperResumed = null; // {method, answer}: a payment found under way at start
        // Cloud mode: the server says on the kiosk's bus which ticket changed; ask now.
        this.data.connectWebSocket("CASHKEEPER_TICKET", () => this.cashkeeperWake?.());
        // The order this kiosk takes payment for: the one its customer is on (payment_status_patch.js).
        this.data.isPaying = (token) =>
            this.models["pos.order"].getBy("uuid", this.selectedOrderUuid)?.access_token === token;
        await this.cashkeeperResume();
    },

    filterPaymentMethods(paymentMethods) {
        // Odoo's kiosk keeps Adyen and Stripe only; the server offers CashKeeper methods too.
        const methods = super.filterPaymentMethods(...arguments);
        if (this.config.self_ordering_mode !== "kiosk") {
            return methods;
        }
        const cashkeeper = paymentMethods.filter(
            (pm) => pm.use_payment_terminal === "cashkeeper" && !methods.includes(pm)
        );
        return [...methods, ...cashkeeper];
    },

    cashkeeperRemember(order, methodId) {
        localStorage.setItem(
            storageKey(this.config),
            JSON.stringify({ order: order.access_token, method: methodId })
        );
    },

    confirmationPage() {
        this.cashkeeperForget(); // an order shown paid: a reload has no payment to resume
        return super.confirmationPage(...arguments);
    },

    cashkeeperForget() {
        localStorage.removeItem(storageKey(this.config));
    },

    cashkeeperStatus(orderAccessToken, params = {}) {
        return rpc("/pos_cashkeeper/kiosk/status", {
            access_token: this.access_token,
            order_access_token: orderAccessToken,
            ...params,
        });
    },

    /** After a reload: load the order of the payment under way and open the page that shows it. */
    async cashkeeperResume() {
        let saved = null;
        try {
            saved = JSON.parse(localStorage.getItem(storageKey(this.config)));
        } catch {
            saved = null;
        }
        if (!saved?.order) {
            return;
        }
        let answer;
        try {
            answer = await this.cashkeeperStatus(saved.order, { with_order: true });
        } catch (error) {
            if (!(error instanceof ConnectionLostError)) {
                this.cashkeeperForget(); // the order is gone (removed, session closed)
            }
            return; // Odoo unreachable: the next reload tries again
        }
        this.models.loadData(answer.order);
        const order = this.models["pos.order"].find((o) => o.access_token === saved.order);
        if (!order || (order.state !== "draft" && answer.state !== "paid")) {
            this.cashkeeperForget(); // nothing to resume (paid otherwise, cancelled)
            return;
        }
        // The kiosk's router reads the URL when it starts: point it at the right page.
        const url = new URL(window.location.href);
        if (answer.state === "paid") {
            this.cashkeeperForget();
            this.data.markPaymentTold(order.access_token);
            url.pathname = `/pos-self/${this.config.id}/confirmation/${order.access_token}/order`;
            this.notification.add(_t("Your order has been paid"), { type: "success" });
            this.printKioskChanges(order.access_token);
        } else {
            this.selectedOrderUuid = order.uuid;
            this.cashkeeperResumed = { method: saved.method, answer };
            url.pathname = `/pos-self/${this.config.id}/payment`;
        }
        history.replaceState({}, "", url);
        this.router.path = url.pathname;
    },
});
