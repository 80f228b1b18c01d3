import { _t } from "@web/core/l10n/translation";
import { rpc, ConnectionLostError, RPCError } from "@web/core/network/rpc";
import { AlertDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { PaymentInterface } from "@point_of_sale/app/payment/payment_interface";
import { register_payment_method } from "@point_of_sale/app/store/pos_store";
import { ask } from "@point_of_sale/app/store/make_awaitable_dialog";
import { follow, wakeable } from "@pos_cashkeeper/app/follow";

const FINAL_FAILURES = ["cancelled", "failed", "anomaly", "payout_cancelled"];
// The line is complete: the drawer collected the cash, or the refund was paid out (declared).
const COMPLETE = ["paid", "paid_out"];
// send_payment_cancel's answer when the line must stay (with Retry) rather than be removed:
// truthy, so that Odoo's Cancel button offers Retry; removal waits for exactly `true`.
export const KEEP_FOR_RETRY = "keep-for-retry";

export function isCashKeeper(line) {
    return line?.payment_method_id.use_payment_terminal === "cashkeeper";
}

export class PaymentCashKeeper extends PaymentInterface {
    setup() {
        super.setup(...arguments);
        // payment line uuid -> {cancel: Promise|null, ticket, wake}: the lines this tab follows.
        this.followed = {};
        // Cloud mode: the server says on the POS's bus which ticket changed; its line asks now
        // instead of at the next (slow) poll. A line whose ticket is not known yet asks too.
        this.pos.data.connectWebSocket("CASHKEEPER_TICKET", (payload) => {
            for (const followed of Object.values(this.followed)) {
                if (!followed.ticket || followed.ticket === payload?.ticket) {
                    followed.wake();
                }
            }
        });
    }

    isFollowing(uuid) {
        return Boolean(this.followed[uuid]);
    }

    async send_payment_request(uuid) {
        await super.send_payment_request(...arguments);
        const line = this._line(uuid);
        if (!line || this.isFollowing(uuid)) {
            return false; // already followed by this tab (double click): one loop per line
        }
        this.followed[uuid] = wakeable({ cancel: null });
        try {
            const result = line.amount < 0 ? await this._payOut(line) : await this._start(line);
            return result ? await this._follow(line, result) : false;
        } catch (error) {
            this._alertError(error);
            return false;
        } finally {
            delete this.followed[uuid];
            line.cashkeeperInfo = "";
        }
    }

    async _start(line) {
        const result = await this._call("start", line, this._orderParams(line));
        if (result.state === "new" && result.message) {
            // CKMonitor did not confirm the ticket: say why; Retry resends the same ticket.
            this._alert(result.message);
            return null;
        }
        return result;
    }

    /**
     * A refund (negative line): the server says whether and how to pay it out at the CashKeeper
     * (it refuses where the method does not pay out); the cashier pays out with the drawer's own
     * screen and confirms here. A line declared already (a reload) is followed as it stands.
     */
    async _payOut(line) {
        const refunded = line.pos_order_id.lines.map((l) => l.refunded_orderline_id?.order_id?.id);
        const params = {
            ...this._orderParams(line),
            refunded_order_ids: [...new Set(refunded.filter((id) => typeof id === "number"))],
        };
        const check = await this._call("payout", line, params);
        if (check.ticket) {
            return check;
        }
        const paidOut = await ask(this.env.services.dialog, {
            title: _t("Pay out at the CashKeeper"),
            body: check.message,
            confirmLabel: _t("Paid out"),
            cancelLabel: _t("Not paid out"),
        });
        return paidOut ? await this._call("payout", line, { ...params, confirmed: true }) : null;
    }

    _orderParams(line) {
        const order = line.pos_order_id;
        return { amount: line.amount, order_ref: order.pos_reference || order.name || "" };
    }

    async send_payment_cancel(order, uuid) {
        await super.send_payment_cancel(...arguments);
        const line = this._line(uuid, order);
        const followed = this.followed[uuid];
        const cancel = this._call("abandon", line).catch((error) => {
            this._alertError(error, _t("The cancellation did not reach Odoo."));
            return null;
        });
        if (followed) {
            followed.cancel = cancel;
            followed.wake(); // the follow loop settles the cancel now, not at its next poll
        }
        const result = await cancel;
        if (!result) {
            return false; // keep the line: the drawer may still take the cash
        }
        if (COMPLETE.includes(result.state)) {
            // Collected (or the payout confirmed) meanwhile: the line completes instead.
            if (!followed && line) {
                this._complete(line, result);
            }
            this._alert(
                result.state === "paid"
                    ? _t("The CashKeeper had already collected the cash: this payment is complete.")
                    : _t("A manager had already confirmed this payout: this payment is complete.")
            );
            return false;
        }
        if (result.state === "paid_after_abandon") {
            // Collected after an earlier cancel: the line stays, offering Retry to take the cash.
            this._alert(result.message);
            return KEEP_FOR_RETRY;
        }
        if (["failed", "anomaly"].includes(result.state)) {
            this._alert(result.message);
        }
        if (result.state === "abandoned") {
            this._alert(
                _t(
                    "Also cancel ticket %s on the CashKeeper. If the customer has already inserted cash, the drawer may still collect it: it will be flagged for the manager as paid after abandon.",
                    result.ticket
                ),
                _t("Cancel on the CashKeeper too")
            );
        }
        return true;
    }

    /** Follow the line's ticket until it is settled, the cashier cancels, or it fails. */
    _follow(line, result) {
        const followed = this.followed[line.uuid];
        return follow(followed, result, {
            handle: (answer) => {
                line.cashkeeperTicket = followed.ticket = answer.ticket;
                if (COMPLETE.includes(answer.state)) {
                    line.transaction_id = answer.ticket;
                    return true;
                }
                if (FINAL_FAILURES.includes(answer.state)) {
                    this._alert(answer.message);
                    return false;
                }
                if (["abandoned", "paid_after_abandon"].includes(answer.state)) {
                    return false;
                }
                if (line.get_payment_status() === "waiting") {
                    line.set_payment_status("waitingCard"); // queued at the drawer: offer Cancel
                }
                line.cashkeeperInfo = answer.message || "";
            },
            // Collected (or the payout confirmed) meanwhile: the line completes; cancelled: it
            // ends; the cancel did not get through: keep following.
            onCancel: (cancelled) =>
                COMPLETE.includes(cancelled?.state) ? { answer: cancelled } : cancelled ? { done: false } : null,
            ask: () => this._call("status", line),
            onAskFailed: (error) => {
                // Odoo unreachable (POS offline) or failing: say why on the line.
                line.cashkeeperInfo =
                    error instanceof ConnectionLostError
                        ? _t("No connection to Odoo: still waiting for the CashKeeper.")
                        : _t("Odoo could not check the CashKeeper (%s): still trying.",
                              error?.data?.message || error?.message || error);
            },
        });
    }

    _complete(line, result) {
        // The amount the drawer collected, even if the line was edited after a cancel.
        line.set_amount(result.amount);
        line.transaction_id = result.ticket;
        line.set_payment_status("done");
    }

    _call(action, line, params = {}) {
        return rpc(`/pos_cashkeeper/payment/${action}`, {
            payment_method_id: this.payment_method_id.id,
            session_id: this.pos.session.id,
            payment_uuid: line.uuid,
            order_uuid: line.pos_order_id?.uuid || "",
            ...params,
        }, { silent: true });
    }

    _line(uuid, order = this.pos.get_order()) {
        return order?.payment_ids.find((line) => line.uuid === uuid);
    }

    _alertError(error, prefix = "") {
        let message = _t("Unexpected error: %s", error?.message || error);
        if (error instanceof ConnectionLostError) {
            message = _t("No connection to Odoo. Check the network, then retry.");
        } else if (error instanceof RPCError) {
            message = error.data?.message || error.message;
        }
        this._alert(prefix ? `${prefix} ${message}` : message);
    }

    _alert(body, title = _t("CashKeeper")) {
        this.env.services.dialog.add(AlertDialog, { title, body });
    }
}

register_payment_method("cashkeeper", PaymentCashKeeper);
