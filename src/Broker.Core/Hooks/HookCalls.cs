using System.Runtime.InteropServices;

namespace Broker.Core.Hooks;

/// <summary>
/// The running calls of one registered callback, counted so that its removal can wait for them: once a plugin's
/// hooks are removed and <see cref="IdleAsync"/> completes, none of its callbacks runs or will start, and only then is
/// its StopAsync called (nothing it closes there is used by a CONNECT still in its chain).
/// </summary>
/// <remarks>
/// A call increments a counter of the processor it starts on and decrements the same one when it ends, so callers on
/// different cores do not contend for one cache line (a shared counter cost about 5 % of p2p, bench/README.md, "SDK
/// 2, blocking hooks"). A call and a removal order themselves as in Dekker's algorithm: the call increments (a full
/// fence) and then reads whether it was removed; the removal sets it, fences, and then sums the counters; so either the
/// call sees the removal and backs out, or the removal sees the call and waits for its end.
/// </remarks>
internal class HookCalls(TimeSpan timeout)
{
    private static readonly int SlotMask = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount) - 1;

    private readonly Slot[] _slots = new Slot[SlotMask + 1];
    private TaskCompletionSource? _idle;
    private volatile bool _removed;

    /// <summary>How long the chain waits for one call of the callback.</summary>
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>A call starts, unless the callback has been removed (then nothing is counted and it must not run).</summary>
    /// <param name="slot">Pass it to <see cref="Exit"/>.</param>
    public bool TryEnter(out int slot)
    {
        slot = Thread.GetCurrentProcessorId() & SlotMask;
        Interlocked.Increment(ref _slots[slot].Count);
        if (!_removed)
            return true;
        Exit(slot);
        return false;
    }

    /// <summary>A call that <see cref="TryEnter"/> let in has ended (on whatever thread).</summary>
    public void Exit(int slot)
    {
        Interlocked.Decrement(ref _slots[slot].Count);
        if (_removed && Running() == 0)
            _idle!.TrySetResult();
    }

    /// <summary>Marks the callback removed (its chain no longer lists it); called once, by the chain.</summary>
    public void MarkRemoved()
    {
        _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _removed = true;
        Interlocked.MemoryBarrier();
        if (Running() == 0)
            _idle.TrySetResult();
    }

    /// <summary>
    /// Completes when no call of the removed callback runs, or at the latest after its <see cref="Timeout"/> (by then
    /// the chain has given up on such a call and cancelled its token).
    /// </summary>
    public async Task IdleAsync(TimeProvider clock)
    {
        try
        {
            await _idle!.Task.WaitAsync(Timeout, clock).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // still running past its timeout: abandoned by the chain already
        }
    }

    private long Running()
    {
        long sum = 0;
        for (var i = 0; i < _slots.Length; i++)
            sum += Volatile.Read(ref _slots[i].Count);
        return sum;
    }

    /// <summary>One counter on a cache line of its own.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Slot
    {
        [FieldOffset(0)]
        public long Count;
    }
}
