namespace Broker.Core.Routing;

/// <summary>
/// The ordinary subscriptions of one route: an array with holes that readers scan lock-free, skipping nulls.
/// </summary>
/// <remarks>
/// A copy-on-write array would cost a full copy per SUBSCRIBE, quadratic when 100k clients subscribe to one popular
/// filter. Here a writer (holding the router's write lock) fills a free slot in place with a volatile write, and
/// removing nulls the slot; only growth and compaction copy, each amortised over many operations. A reader holds
/// one array reference for its whole scan, so it sees every subscription that existed for the whole scan exactly
/// once: entries never move within an array, they only move to a new array that is published whole.
/// Capacity stays within 4x the live count (compaction when a quarter or less is live).
/// </remarks>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class SubscriptionSlots<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private const int MinCapacity = 4;

    private Subscription<TSubscriber>?[] _items = [];
    private int _count;
    private int _used; // slots [0, _used) have been handed out; writers only
    private Stack<int>? _free; // holes below _used; writers only

    /// <summary>Current array; may contain nulls. Read it once and scan that array.</summary>
    public Subscription<TSubscriber>?[] Items => Volatile.Read(ref _items);

    /// <summary>Live subscriptions.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Add(Subscription<TSubscriber> subscription)
    {
        int slot;
        if (_free is { Count: > 0 })
        {
            slot = _free.Pop();
        }
        else
        {
            if (_used == _items.Length)
            {
                var grown = new Subscription<TSubscriber>?[Math.Max(MinCapacity, _items.Length * 2)];
                Array.Copy(_items, grown, _used);
                Volatile.Write(ref _items, grown);
            }
            slot = _used++;
        }
        subscription.Slot = slot;
        Volatile.Write(ref _items[slot], subscription);
        Volatile.Write(ref _count, _count + 1);
    }

    public void Replace(Subscription<TSubscriber> old, Subscription<TSubscriber> replacement)
    {
        replacement.Slot = old.Slot;
        Volatile.Write(ref _items[old.Slot], replacement);
    }

    public void Remove(Subscription<TSubscriber> subscription)
    {
        var items = _items;
        Volatile.Write(ref items[subscription.Slot], null);
        var count = _count - 1;
        Volatile.Write(ref _count, count);
        if (count == 0)
        {
            Volatile.Write(ref _items, []);
            _used = 0;
            _free = null;
        }
        else if (items.Length > MinCapacity && count <= items.Length / 4)
        {
            Compact(count);
        }
        else if (subscription.Slot == _used - 1)
        {
            _used--;
        }
        else
        {
            (_free ??= new Stack<int>()).Push(subscription.Slot);
        }
    }

    private void Compact(int count)
    {
        var compacted = new Subscription<TSubscriber>?[Math.Max(MinCapacity, count * 2)];
        var next = 0;
        foreach (var item in _items)
        {
            if (item is null)
                continue;
            item.Slot = next;
            compacted[next++] = item;
        }
        _used = next;
        _free?.Clear();
        Volatile.Write(ref _items, compacted);
    }
}
