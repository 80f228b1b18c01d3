import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { rpc, ConnectionLostError } from "@web/core/network/rpc";
import { onMounted, onWillUnmount, useState } from "@odoo/owl";
import { PaymentPage } from "@pos_self_order/app/pages/payment_page/payment_page";
import { follow, wakeable } from "@pos_cashkeeper/app/follow";
// Every final answer of a kiosk payment but "paid" (which opens the confirmation): the server's
// (_kiosk_result, _answer), and "offline", the page's own when Odoo cannot be reached. Each says
// what is left of the payment once the customer sees it:
// - over: nothing, a reload has nothing to resume;
// - watched: nothing for the customer, yet it is followed still: the drawer may take the cash
//   after the customer cancelled (the server hears of it from the cron or the agent);
// - unsent: CKMonitor has not confirmed the ticket, which may still reach the drawer: a reload
//   resumes it, and leaving the page gives it up first;
// - kept: the cash the drawer took after a cancel waits for Try again: a reload shows it.
const FINAL_ANSWERS = {
    cancelled: "over",
    failed: "over",
    anomaly: "over",
    stuck: "over",
    busy: "over",
    unavailable: "over",
    abandoned: "watched",
    new: "unsent",
    offline: "unsent",
    paid_after_abandon: "kept",
};

function errorText(error) {
    return error instanceof ConnectionLostError
        ? _t("No connection to the shop's system: try again.")
        : error?.data?.message || error?.message || String(error);
}

patch(PaymentPage.prototype, {
    setup() {
        super.setup(...arguments);
        // phase: "" (no CashKeeper payment shown), "starting", "waiting" (for the cash), "final"
        this.cashkeeper = useState({ phase: "", answer: null, info: "", cancelling: false });
        this.cashkeeperLoop = null; // wakeable {token, cancel}: the payment this page follows
        onMounted(() => {
            // A payment found under way after a reload (Odoo's own onMounted has picked the
            // method already when the kiosk has only one).
            const resumed = this.selfOrder.cashkeeperResumed;
            if (resumed && this.state.selection) {
                this.selectMethod(resumed.method);
            }
        });
        onWillUnmount(() => this.cashkeeperStop());
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
        if (this.cashkeeper.phase === "final") {
            this.cashkeeperStop(); // Try again: no more watching of the payment shown
        }
        if (this.cashkeeperLoop) {
            return; // already following this payment (a second tap)
        }
        const order = this.selfOrder.currentOrder;
        const loop = this.cashkeeperFollowing(order.access_token);
        Object.assign(this.cashkeeper, { phase: "starting", answer: null, info: "", cancelling: false });
        if (resumed) {
            // Reloaded mid-payment: follow the order's ticket, or show how the payment ended.
            return this.cashkeeperFollow(loop, resumed.answer);
        }
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
            // The answer was lost (the start may have reached the drawer) or refused: ask.
            answer = await this.selfOrder.cashkeeperStatus(loop.token).catch(() => ({
                state: error instanceof ConnectionLostError ? "offline" : "unavailable",
                final: true,
                retry: true,
                message: errorText(error),
            }));
        }
        await this.cashkeeperFollow(loop, answer);
    },

    cashkeeperFollowing(token) {
        const loop = wakeable({ token, cancel: null });
        this.cashkeeperLoop = loop;
        this.selfOrder.cashkeeperWake = () => loop.wake();
        this.selfOrder.paymentError = false;
        return loop;
    },

    cashkeeperStop() {
        this.cashkeeperLoop = null;
        this.selfOrder.cashkeeperWake = null;
    },

    /** Ask the server until the payment ends, the customer cancels, or the page goes. */
    cashkeeperFollow(loop, answer) {
        return follow(loop, answer, {
            handle: (next) => {
                if (next.final && FINAL_ANSWERS[next.state] !== "watched") {
                    return this.cashkeeperSettle(loop, next);
                }
                if (next.final) {
                    this.cashkeeperShowEnd(next);
                } else {
                    Object.assign(this.cashkeeper, { phase: "waiting", answer: next, info: next.message || "" });
                }
            },
            onCancel: (cancelled) => {
                this.cashkeeper.cancelling = false;
                return cancelled ? { answer: cancelled } : null;
            },
            ask: async () => {
                const next = await this.selfOrder.cashkeeperStatus(loop.token);
                return next.state === this.cashkeeper.answer?.state && next.final ? null : next;
            },
            onAskFailed: (error) => {
                // Odoo unreachable or failing: the drawer may still take the cash, keep asking.
                if (this.cashkeeper.phase === "waiting") {
                    this.cashkeeper.info =
                        error instanceof ConnectionLostError
                            ? _t("No connection: still waiting for the cash machine.")
                            : _t("Still waiting for the cash machine.");
                }
            },
            stopped: () => this.cashkeeperLoop !== loop,
        });
    },

    cashkeeperCancelRequest(token) {
        return rpc("/pos_cashkeeper/kiosk/cancel", {
            access_token: this.selfOrder.access_token,
            order_access_token: token,
        });
    },

    cashkeeperCancel() {
        const loop = this.cashkeeperLoop;
        if (!loop || loop.cancel) {
            return;
        }
        this.cashkeeper.cancelling = true;
        loop.cancel = this.cashkeeperCancelRequest(loop.token).catch((error) => {
            this.cashkeeper.info = errorText(error); // not cancelled: keep following
            return null;
        });
        loop.wake();
    },

    cashkeeperShowEnd(answer) {
        Object.assign(this.cashkeeper, { phase: "final", answer, info: "", cancelling: false });
        if (["over", "watched"].includes(FINAL_ANSWERS[answer.state])) {
            this.selfOrder.cashkeeperForget();
        }
    },

    async cashkeeperSettle(loop, answer) {
        this.cashkeeperStop();
        this.cashkeeperShowEnd(answer);
        if (answer.state !== "paid") {
            return;
        }
        const data = // a start that found the order paid comes without it
            answer.order ||
            (await this.selfOrder
                .cashkeeperStatus(loop.token, { with_order: true })
                .then((result) => result.order)
                .catch(() => null)); // Odoo unreachable: the bus, or a reload, shows the confirmation
        if (data) {
            // Odoo's kiosk shows the confirmation, as when the bus says so (once, whichever is first).
            this.selfOrder.data.tellPaymentStatus({ payment_result: "Success", data });
        }
    },

    /** Back, or another method: a ticket CKMonitor did not confirm may still reach the drawer,
     * so it is given up first (the server watches it: cash it takes is flagged). */
    async cashkeeperLeave(then) {
        const token = this.selfOrder.currentOrder.access_token;
        this.cashkeeperStop();
        if (FINAL_ANSWERS[this.cashkeeper.answer?.state] === "unsent") {
            await this.cashkeeperCancelRequest(token).catch(() => null);
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
