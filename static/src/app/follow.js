// The follow loop of a CashKeeper payment, shared by the POS (payment_cashkeeper.js) and the
// kiosk (pos_self_order_cashkeeper): ask the server how the ticket stands at the pace its answers
// say (``poll``: the ticket's transport's policy), twice as slowly while an answer carries a
// trouble message or the server cannot be reached, and at once when woken (the bus says the
// ticket changed, or the cashier or the customer cancels).

// Until the first answer says how often to ask.
const DEFAULT_POLL = { interval_ms: 250, max_interval_ms: 5000 };

/** Make ``follower`` wakeable: its ``wake()`` may be called at any time. */
export function wakeable(follower) {
    follower.woken = false;
    follower.wake = () => (follower.woken = true);
    return follower;
}

/** Wait ``delay`` ms, or less if ``follower`` is woken (or was, since the last pause). */
function sleepUnlessWoken(follower, delay) {
    return new Promise((resolve) => {
        if (follower.woken) {
            follower.woken = false;
            return resolve();
        }
        const done = () => {
            clearTimeout(timer);
            follower.wake = () => (follower.woken = true);
            resolve();
        };
        const timer = setTimeout(done, delay);
        follower.wake = done;
    });
}

/**
 * Follow a wakeable ``follower``'s ticket from ``answer`` (may be null) on:
 * - ``handle(answer)``: anything but undefined ends the loop with that value;
 * - ``follower.cancel``, a cancel's promise, is settled by ``onCancel(result)``: ``{answer}`` to
 *   handle next, ``{done: value}`` to end, nothing to go on asking;
 * - ``ask()`` gives the next answer (null: nothing new); ``onAskFailed(error)`` when it throws;
 * - ``stopped()``: the follower was let go (the loop ends with undefined).
 */
export async function follow(follower, answer, { handle, ask, onCancel, onAskFailed, stopped = () => false }) {
    let poll = DEFAULT_POLL;
    let delay = poll.interval_ms;
    while (!stopped()) {
        if (answer) {
            const outcome = handle(answer);
            if (outcome !== undefined) {
                return outcome;
            }
            poll = answer.poll || poll;
            delay = answer.message ? Math.min(delay * 2, poll.max_interval_ms) : poll.interval_ms;
        }
        await sleepUnlessWoken(follower, delay);
        if (stopped()) {
            return undefined;
        }
        answer = null;
        if (follower.cancel) {
            const next = onCancel(await follower.cancel);
            follower.cancel = null;
            if (next && "done" in next) {
                return next.done;
            }
            if (next?.answer) {
                answer = next.answer;
                continue;
            }
        }
        try {
            answer = await ask();
        } catch (error) {
            onAskFailed(error); // the drawer may still take the cash: never stop following
            delay = Math.min(delay * 2, poll.max_interval_ms);
        }
    }
    return undefined;
}
