using Broker.Abstractions;

namespace Broker.Core.Sessions;

internal sealed partial class Session
{
    // What most sessions never use: a will, timers of an offline session, slow-subscriber tracking, filters subscribed
    // on the client's behalf. Kept out of the session, which every idle connection holds, and made on first use
    // (bench/README.md, "Idle connections: where the 2.8 KB go").
    private RareState? _rare;

    private RareState Rare => Volatile.Read(ref _rare) ?? CreateRare();

    private RareState CreateRare()
    {
        var created = new RareState();
        return Interlocked.CompareExchange(ref _rare, created, null) ?? created;
    }

    public ITimer? ExpiryTimer
    {
        get => Volatile.Read(ref _rare)?.ExpiryTimer;
        set
        {
            if (value is not null || _rare is not null)
                Rare.ExpiryTimer = value;
        }
    }

    public ITimer? WillTimer
    {
        get => Volatile.Read(ref _rare)?.WillTimer;
        set
        {
            if (value is not null || _rare is not null)
                Rare.WillTimer = value;
        }
    }

    /// <summary>The delay of the pending will (set by the session manager with it).</summary>
    public TimeSpan WillDelay
    {
        get => Volatile.Read(ref _rare)?.WillDelay ?? TimeSpan.Zero;
        set
        {
            if (value != TimeSpan.Zero || _rare is not null)
                Rare.WillDelay = value;
        }
    }

    /// <summary>The will of the last connection, waiting for its delay or the session's end; under the lock.</summary>
    private BrokerMessage? PendingWillLocked
    {
        get => _rare?.PendingWill;
        set
        {
            if (value is not null || _rare is not null)
                Rare.PendingWill = value;
        }
    }

    /// <summary>Whether this session is a slow subscriber now; under the lock.</summary>
    private bool SlowLocked => _rare is { Slow: true };

    private sealed class RareState
    {
        public BrokerMessage? PendingWill;
        public TimeSpan WillDelay;
        public ITimer? ExpiryTimer;
        public ITimer? WillTimer;
        public TaskCompletionSource? CaughtUp; // publishers waiting for this session to catch up
        public long BehindSince; // TimeProvider timestamp since when the queue has been more than half full; 0 = it is not
        public bool Slow;
        public long Dropped;
        public HashSet<string>? Trusted; // filters subscribed on the client's behalf (never authorized); kept for the store
    }
}
