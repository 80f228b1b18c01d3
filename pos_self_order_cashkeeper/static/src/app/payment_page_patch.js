import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { rpc, ConnectionLostError } from "@web/core/network/rpc";
import { onMounted, onWillUnmount, useState } from "@odoo/owl";
import { PaymentPage } from "@pos_self_order/app/pages/payment_page/payment_page";

// How often to ask comes with every answer (the ticket's transport, on the server); this applies
// until the first one arrives.
const DEFAULT_POLL = { interval_ms: 250, max_interval_ms: 5000 };
// Answers after which no ticket of the order waits at the drawer: a reload has nothing to resume.
const SETTLED = ["cancelled", "failed", "anomaly", "stuck", "abandoned", "busy", "unavailable"];

function errorText(error) {
    if (error instanceof ConnectionLostError) {
        return _t("No connection to the shop's system. Nothing was charged: try again.");
    }
    return error?.data?.message || error?.message || String(error);
}

patch(PaymentPage.prototype, {
    setup() {
        super.setup(...arguments);
        // phase: "" (no CashKeeper payment shown), "starting", "waiting" (for the cash), "final"
        this.cashkeeper = useState({ phase: "", answer: null, info: "", cancelling: false });
        this.cashkeeperLoop = null; // {token, cancel, woken, wake}: the payment this page follows
        onMounted(() => {
            // A payment found under way after a reload (Odoo's own onMounted has picked the
            // method already when the kiosk has only one).
            const resumed = this.selfOrder.cashkeeperResumed;
            if (resumed && this.state.selection) {
                this.selectMethod(resumed.method);
            }
        });
        onWillUnmount(() => {
            this.cashkeeperLoop = null;
            this.selfOrder.cashkeeperWake = null;
        });
    },

    get isCashKeeper() {
        return (
            !this.state.selection &&
            this.selectedPaymentMethod?.use_payment_terminal === "cashkeeper"
        );
    },

    get cashkeeperTitle() {
        const amount = this.selfOrder.formatMonetary(this.cashkeeper.answer?.amount || 0);
        return _t("Insert %s in the cash machine", amount);
    },

    get cashkeeperTicket() {
        return _t("Ticket %s", this.cashkeeper.answer?.ticket || "");
    },

    get hasOtherPaymentMethods() {
        return this.selfOrder.models["pos.payment.method"].length > 1;
    },

    async startPayment() {
        if (!this.isCashKeeper) {
            return super.startPayment(...arguments);
        }
        const resumed = this.selfOrder.cashkeeperResumed;
        this.selfOrder.cashkeeperResumed = null;
        const order = this.selfOrder.currentOrder;
        if (resumed?.answer.final) {
            // Reloaded after the payment ended: show how, start nothing.
            return this.cashkeeperSettle({ token: order.access_token }, resumed.answer);
        }
        if (this.cashkeeperLoop) {
            return; // already following this payment (a second tap)
        }
        const loop = { token: order.access_token, cancel: null, woken: false };
        loop.wake = () => (loop.woken = true);
        this.cashkeeperLoop = loop;
        this.selfOrder.cashkeeperWake = () => loop.wake();
        this.selfOrder.paymentError = false;
        Object.assign(this.cashkeeper, { phase: "starting", answer: null, info: "", cancelling: false });
        this.selfOrder.cashkeeperRemember(order, this.state.paymentMethodId);
        let answer;
        try {
            // Odoo's kiosk route: it saves the order, then the server starts (or resumes) the
            // order's ticket for the order's total.
            const response = await rpc(`/kiosk/payment/${this.selfOrder.config.id}/kiosk`, {
                order: order.serialize({ orm: true }),
                access_token: this.selfOrder.access_token,
                payment_method_id: this.state.paymentMethodId,
            });
            answer = response.payment_status;
        } catch (error) {
            answer = { state: "unavailable", final: true, retry: true, message: errorText(error) };
        }
        await this.cashkeeperFollow(loop, answer);
    },

    /** Ask the server until the payment ends, the customer cancels, or the page goes. */
    async cashkeeperFollow(loop, answer) {
        let poll = DEFAULT_POLL;
        let delay = poll.interval_ms;
        while (this.cashkeeperLoop === loop) {
            if (answer) {
                if (answer.final) {
                    return this.cashkeeperSettle(loop, answer);
                }
                poll = answer.poll || poll;
                delay = answer.message ? Math.min(delay * 2, poll.max_interval_ms) : poll.interval_ms;
                Object.assign(this.cashkeeper, { phase: "waiting", answer, info: answer.message || "" });
            }
            await this.cashkeeperSleep(loop, delay);
            if (this.cashkeeperLoop !== loop) {
                return;
            }
            if (loop.cancel) {
                const cancelled = await loop.cancel;
                loop.cancel = null;
                this.cashkeeper.cancelling = false;
                if (cancelled) {
                    answer = cancelled;
                    continue;
                }
            }
            try {
                answer = await this.selfOrder.cashkeeperStatus(loop.token);
            } catch (error) {
                // Odoo unreachable or failing: the drawer may still take the cash, keep asking.
                answer = null;
                this.cashkeeper.info =
                    error instanceof ConnectionLostError
                        ? _t("No connection: still waiting for the cash machine.")
                        : _t("Still waiting for the cash machine.");
                delay = Math.min(delay * 2, poll.max_interval_ms);
            }
        }
    },

    /** Wait ``delay`` ms, less when the bus says a ticket changed or the customer cancels. */
    cashkeeperSleep(loop, delay) {
        return new Promise((resolve) => {
            if (loop.woken) {
                loop.woken = false;
                return resolve();
            }
            const done = () => {
                clearTimeout(timer);
                loop.wake = () => (loop.woken = true);
                resolve();
            };
            const timer = setTimeout(done, delay);
            loop.wake = done;
        });
    },

    cashkeeperCancel() {
        const loop = this.cashkeeperLoop;
        if (!loop || loop.cancel) {
            return;
        }
        this.cashkeeper.cancelling = true;
        loop.cancel = rpc("/pos_cashkeeper/kiosk/cancel", {
            access_token: this.selfOrder.access_token,
            order_access_token: loop.token,
        }).catch((error) => {
            this.cashkeeper.info = errorText(error); // not cancelled: keep following
            return null;
        });
        loop.wake();
    },

    async cashkeeperSettle(loop, answer) {
        this.cashkeeperLoop = null;
        this.selfOrder.cashkeeperWake = null;
        Object.assign(this.cashkeeper, { phase: "final", answer, info: "", cancelling: false });
        if (answer.state === "paid") {
            return this.cashkeeperPaid(loop.token, answer);
        }
        if (SETTLED.includes(answer.state)) {
            this.selfOrder.cashkeeperForget();
        }
    },

    async cashkeeperPaid(token, answer) {
        // Forgotten first: a reload after the confirmation must not print the order again.
        this.selfOrder.cashkeeperForget();
        let data = answer.order;
        if (!data) {
            try {
                data = (await this.selfOrder.cashkeeperStatus(token, { with_order: true })).order;
            } catch {
                data = null; // the confirmation page fetches the order itself
            }
        }
        if (data) {
            this.selfOrder.models.loadData(data);
        }
        this.selfOrder.notification.add(_t("Your order has been paid"), { type: "success" });
        this.selfOrder.confirmationPage("order", "kiosk", token);
    },

    /** Back, or another method: a ticket CKMonitor did not confirm may still reach the drawer,
     * so it is given up first (the server watches it: cash it takes is flagged). */
    async cashkeeperLeave(then) {
        if (this.cashkeeper.answer?.state === "new") {
            await rpc("/pos_cashkeeper/kiosk/cancel", {
                access_token: this.selfOrder.access_token,
                order_access_token: this.selfOrder.currentOrder.access_token,
            }).catch(() => null);
        }
        this.selfOrder.cashkeeperForget();
        Object.assign(this.cashkeeper, { phase: "", answer: null, info: "" });
        then();
    },

    cashkeeperBack() {
        return this.cashkeeperLeave(() => this.router.back());
    },

    cashkeeperOtherMethod() {
        return this.cashkeeperLeave(() => {
            this.state.selection = true;
            this.state.paymentMethodId = null;
        });
    },
});
