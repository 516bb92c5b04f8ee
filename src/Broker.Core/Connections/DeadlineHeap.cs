
namespace Broker.Core.Connections;

/// <summary>Something with one deadline in a <see cref="DeadlineHeap"/>.</summary>
internal interface IDeadlineOwner
{
    /// <summary>Where the owner's entry is in the heap, -1 when it has none: set by the heap only, under its lock. Start at -1.</summary>
    int DeadlineSlot { get; set; }

    /// <summary>The deadline has come (called on a timer thread, outside the heap's lock; the entry is already gone).</summary>
    void OnDeadline();
}

/// <summary>
/// Every connection's CONNECT and keep-alive deadline on one timer: a binary min-heap by due time, with the timer set
/// for the earliest. A timer per connection (the runtime's, 120 bytes) was the largest single item an idle connection
/// held after its socket; an entry here is 16 bytes. Each owner is called at its due time, as its own timer would call
/// it; scheduling, moving and cancelling are O(log n) under one lock.
/// </summary>
internal sealed class DeadlineHeap(TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly double _ticksPerTimestamp = TimeSpan.TicksPerSecond / (double)time.TimestampFrequency;
    private Entry[] _entries = [];
    private int _count;
    private ITimer? _timer;
    private long _armedFor = long.MaxValue; // the due time the timer is set for

    private readonly record struct Entry(long Due, IDeadlineOwner Owner);

    /// <summary>Deadlines waiting.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _count;
        }
    }

    /// <summary>Sets <paramref name="owner"/>'s deadline to <paramref name="dueIn"/> from now, replacing any it had.</summary>
    public void Schedule(IDeadlineOwner owner, TimeSpan dueIn)
    {
        var due = time.GetTimestamp() + (long)(dueIn.Ticks / _ticksPerTimestamp);
        lock (_lock)
        {
            var slot = owner.DeadlineSlot;
            if (slot < 0)
            {
                if (_count == _entries.Length)
                    Array.Resize(ref _entries, Math.Max(16, _count * 2));
                slot = _count++;
                _entries[slot] = new Entry(due, owner);
                owner.DeadlineSlot = slot;
                Up(slot);
            }
            else
            {
                var earlier = due < _entries[slot].Due;
                _entries[slot] = new Entry(due, owner);
                if (earlier)
                    Up(slot);
                else
                    Down(slot);
            }
            ArmLocked();
        }
    }

    /// <summary>Removes <paramref name="owner"/>'s deadline, if it has one.</summary>
    public void Cancel(IDeadlineOwner owner)
    {
        lock (_lock)
        {
            if (owner.DeadlineSlot >= 0)
                RemoveAt(owner.DeadlineSlot);
            // The timer stays set for the removed deadline, if it was the earliest: it then finds nothing due and re-arms.
        }
    }

    private void OnTimer()
    {
        List<IDeadlineOwner>? due = null;
        lock (_lock)
        {
            _armedFor = long.MaxValue;
            var now = time.GetTimestamp();
            while (_count > 0 && _entries[0].Due <= now)
            {
                (due ??= []).Add(_entries[0].Owner);
                RemoveAt(0);
            }
            ArmLocked();
        }
        if (due is null)
            return;
        foreach (var owner in due)
            owner.OnDeadline();
    }

    private void ArmLocked()
    {
        if (_count == 0 || _entries[0].Due >= _armedFor)
            return; // nothing to wait for, or the timer fires first anyway (and re-arms)
        var next = _entries[0].Due;
        _armedFor = next;
        // At least a tick: never zero, which a test clock fires inside Change, under this lock.
        var delay = TimeSpan.FromTicks(Math.Max(1, (long)Math.Ceiling((next - time.GetTimestamp()) * _ticksPerTimestamp)));
        _timer ??= time.CreateTimer(static s => ((DeadlineHeap)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void RemoveAt(int slot)
    {
        _entries[slot].Owner.DeadlineSlot = -1;
        var last = --_count;
        if (slot != last)
        {
            var moved = _entries[last];
            _entries[slot] = moved;
            moved.Owner.DeadlineSlot = slot;
            _entries[last] = default;
            if (slot > 0 && moved.Due < _entries[(slot - 1) / 2].Due)
                Up(slot);
            else
                Down(slot);
        }
        else
        {
            _entries[last] = default;
        }
        // Give memory back after a wave of disconnects.
        if (_entries.Length > 64 && _count < _entries.Length / 4)
            Array.Resize(ref _entries, _entries.Length / 2);
    }

    private void Up(int slot)
    {
        var entry = _entries[slot];
        while (slot > 0)
        {
            var parent = (slot - 1) / 2;
            if (_entries[parent].Due <= entry.Due)
                break;
            Place(slot, _entries[parent]);
            slot = parent;
        }
        Place(slot, entry);
    }

    private void Down(int slot)
    {
        var entry = _entries[slot];
        while (true)
        {
            var child = (2 * slot) + 1;
            if (child >= _count)
                break;
            if (child + 1 < _count && _entries[child + 1].Due < _entries[child].Due)
                child++;
            if (entry.Due <= _entries[child].Due)
                break;
            Place(slot, _entries[child]);
            slot = child;
        }
        Place(slot, entry);
    }

    private void Place(int slot, Entry entry)
    {
        _entries[slot] = entry;
        entry.Owner.DeadlineSlot = slot;
    }
}
