import { _t } from "@web/core/l10n/translation";
import { rpc, ConnectionLostError } from "@web/core/network/rpc";
import { Component, onMounted, onWillUnmount, useState } from "@odoo/owl";
import { useSelfOrder } from "@pos_self_order/app/self_order_service";
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

/** The kiosk's payment page while the customer pays into the CashKeeper (payment_page_patch.js
 * shows it in place of Odoo's terminal instructions): it starts, or resumes, the order's payment
 * when shown, follows it to its end, and lets the customer cancel, try again, go back or choose
 * another method. */
export class CashKeeperKioskPayment extends Component {
    static template = "pos_self_order_cashkeeper.CashKeeperKioskPayment";
    static props = { methodId: Number, back: Function, otherMethod: { type: Function, optional: true } };

    setup() {
        this.selfOrder = useSelfOrder();
        // phase: "starting", "waiting" (for the cash), "final"
        this.state = useState({ phase: "starting", answer: null, info: "", cancelling: false, leaving: false });
        this.loop = null; // wakeable {token, cancel}: the payment this page follows
        onMounted(() => this.start());
        onWillUnmount(() => this.stop());
    }

    get title() {
        const amount = this.selfOrder.formatMonetary(this.state.answer?.amount || 0);
        return _t("Insert %s in the cash machine", amount);
    }

    get ticket() {
        return _t("Ticket %s", this.state.answer?.ticket || "");
    }

    async start() {
        const resumed = this.selfOrder.cashkeeperResumed;
        this.selfOrder.cashkeeperResumed = null;
        if (this.state.phase === "final") {
            this.stop(); // Try again: no more watching of the payment shown
        }
        if (this.loop) {
            return; // already following this payment (a second tap)
        }
        const order = this.selfOrder.currentOrder;
        const loop = this.following(order.access_token);
        Object.assign(this.state, { phase: "starting", answer: null, info: "", cancelling: false });
        if (resumed) {
            // Reloaded mid-payment: follow the order's ticket, or show how the payment ended.
            return this.followTicket(loop, resumed.answer);
        }
        this.selfOrder.cashkeeperRemember(order, this.props.methodId);
        let answer;
        try {
            // Odoo's kiosk route: it saves the order, then the server starts (or resumes) the
            // order's ticket for the order's total.
            const response = await rpc(`/kiosk/payment/${this.selfOrder.config.id}/kiosk`, {
                order: order.serialize({ orm: true }),
                access_token: this.selfOrder.access_token,
                payment_method_id: this.props.methodId,
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
        await this.followTicket(loop, answer);
    }

    following(token) {
        const loop = wakeable({ token, cancel: null });
        this.loop = loop;
        this.selfOrder.cashkeeperWake = () => loop.wake();
        this.selfOrder.paymentError = false;
        return loop;
    }

    stop() {
        this.loop = null;
        this.selfOrder.cashkeeperWake = null;
    }

    /** Ask the server until the payment ends, the customer cancels, or the page goes. */
    followTicket(loop, answer) {
        return follow(loop, answer, {
            handle: (next) => {
                if (next.final && FINAL_ANSWERS[next.state] !== "watched") {
                    return this.settle(loop, next);
                }
                if (next.final) {
                    this.showEnd(next);
                } else {
                    Object.assign(this.state, { phase: "waiting", answer: next, info: next.message || "" });
                }
            },
            onCancel: (cancelled) => {
                this.state.cancelling = false;
                return cancelled ? { answer: cancelled } : null;
            },
            ask: async () => {
                const next = await this.selfOrder.cashkeeperStatus(loop.token);
                return next.state === this.state.answer?.state && next.final ? null : next;
            },
            onAskFailed: (error) => {
                // Odoo unreachable or failing: the drawer may still take the cash, keep asking.
                if (this.state.phase === "waiting") {
                    this.state.info =
                        error instanceof ConnectionLostError
                            ? _t("No connection: still waiting for the cash machine.")
                            : _t("Still waiting for the cash machine.");
                }
            },
            stopped: () => this.loop !== loop,
        });
    }

    cancelRequest(token) {
        return rpc("/pos_cashkeeper/kiosk/cancel", {
            access_token: this.selfOrder.access_token,
            order_access_token: token,
        });
    }

    cancel() {
        const loop = this.loop;
        if (!loop || loop.cancel) {
            return;
        }
        this.state.cancelling = true;
        loop.cancel = this.cancelRequest(loop.token).catch((error) => {
            this.state.info = errorText(error); // not cancelled: keep following
            return null;
        });
        loop.wake();
    }

    showEnd(answer) {
        Object.assign(this.state, { phase: "final", answer, info: "", cancelling: false });
        if (["over", "watched"].includes(FINAL_ANSWERS[answer.state])) {
            this.selfOrder.cashkeeperForget();
        }
    }

    async settle(loop, answer) {
        this.stop();
        this.showEnd(answer);
        if (answer.state !== "paid") {
            return;
        }
        const data = // a start that found the order paid comes without it
            answer.order ||
            (await this.selfOrder
                .cashkeeperStatus(loop.token, { with_order: true })
                .then((result) => result.order)
                .catch(() => null));
        if (data) {
            // Odoo's kiosk shows the confirmation, as when the bus says so (once, whichever is first).
            this.selfOrder.data.tellPaymentStatus({ payment_result: "Success", data });
        } else {
            this.selfOrder.data.markPaymentTold(loop.token); // the confirmation page fetches the order
            this.selfOrder.notification.add(_t("Your order has been paid"), { type: "success" });
            this.selfOrder.confirmationPage("order", "kiosk", loop.token);
        }
    }

    /** Back, or another method: a ticket CKMonitor did not confirm may still reach the drawer,
     * so it is given up first (the server watches it: cash it takes is flagged). */
    async leave(then) {
        const token = this.selfOrder.currentOrder.access_token;
        this.state.leaving = true; // the buttons wait for the cancel
        this.stop();
        if (FINAL_ANSWERS[this.state.answer?.state] === "unsent") {
            const answer = await this.cancelRequest(token).catch(() => null);
            if (answer?.state === "paid") {
                this.state.leaving = false;
                return this.settle({ token }, answer); // the drawer had the cash: the order is paid
            }
        }
        this.selfOrder.cashkeeperForget();
        then();
    }

    back() {
        return this.leave(this.props.back);
    }

    otherMethod() {
        return this.leave(this.props.otherMethod);
    }
}
