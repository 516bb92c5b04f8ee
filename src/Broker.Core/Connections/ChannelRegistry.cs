namespace Broker.Core.Connections;

/// <summary>
/// The open connections: each in a 16-byte slot of one array, reused through a free list, its slot number kept by the
/// channel. A dictionary would cost every connection a node (40 B) and a share of its buckets (bench/README.md,
/// "Idle connections"); what the registry is asked for (count, a snapshot to close or ban) does not need one.
/// </summary>
internal sealed class ChannelRegistry
{
    private readonly Lock _lock = new();
    private Slot[] _slots = new Slot[64];
    private int _used;      // slots ever handed out: [0, _used) are in use or on the free list
    private int _freeSlot = -1;
    private int _count;

    /// <summary>Connections registered now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Registers <paramref name="channel"/>; returns its slot, for <see cref="Remove"/>.</summary>
    public int Add(ClientChannel channel)
    {
        lock (_lock)
        {
            int index;
            if (_freeSlot >= 0)
            {
                index = _freeSlot;
                _freeSlot = _slots[index].NextFree;
            }
            else
            {
                if (_used == _slots.Length)
                    Array.Resize(ref _slots, _slots.Length * 2);
                index = _used++;
            }
            _slots[index] = new Slot { Channel = channel, NextFree = -1 };
            _count++;
            return index;
        }
    }

    public void Remove(ClientChannel channel, int slot)
    {
        lock (_lock)
        {
            if ((uint)slot >= (uint)_used || !ReferenceEquals(_slots[slot].Channel, channel))
                return;
            _slots[slot] = new Slot { NextFree = _freeSlot };
            _freeSlot = slot;
            _count--;
        }
    }

    /// <summary>The connections registered now, as a list of their own.</summary>
    public List<ClientChannel> Snapshot()
    {
        lock (_lock)
        {
            var channels = new List<ClientChannel>(_count);
            for (var i = 0; i < _used; i++)
            {
                if (_slots[i].Channel is { } channel)
                    channels.Add(channel);
            }
            return channels;
        }
    }

    private struct Slot
    {
        public ClientChannel? Channel;
        public int NextFree; // on the free list: the next free slot, or -1
    }
}
