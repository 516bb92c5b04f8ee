using FASTER.core;

namespace Broker.StoreBench;

/// <summary>
/// FASTER KV over SpanByte keys and values. Writes land in the in-memory mutable region of its hybrid log; a group
/// becomes durable by a fold-over log checkpoint (log flushed to disk up to the tail, checkpoint metadata written),
/// and a restart recovers from the latest one. FASTER's index is a hash: a scan returns records in log order, so the
/// broker would have to sort each session's messages on resume.
/// </summary>
internal sealed unsafe class FasterStore : IMessageStore
{
    private readonly FasterKVSettings<SpanByte, SpanByte> _settings;
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>> _session;

    public FasterStore(string directory)
    {
        _settings = new FasterKVSettings<SpanByte, SpanByte>(directory)
        {
            IndexSize = 1L << 26,
            MemorySize = 1L << 28,
            PageSize = 1L << 22,
            SegmentSize = 1L << 24,
            RemoveOutdatedCheckpoints = true,
            TryRecoverLatest = true,
        };
        _store = new FasterKV<SpanByte, SpanByte>(_settings);
        _session = _store.For(new SpanByteFunctions<Empty>()).NewSession<SpanByteFunctions<Empty>>();
    }

    public void Commit(ReadOnlySpan<StoreOp> batch)
    {
        foreach (ref readonly var op in batch)
        {
            fixed (byte* keyPointer = op.Key)
            {
                var key = SpanByte.FromPointer(keyPointer, op.Key.Length);
                if (op.IsDelete)
                {
                    _session.Delete(ref key);
                    continue;
                }
                using var pin = op.Value.Pin();
                var value = SpanByte.FromPointer((byte*)pin.Pointer, op.Value.Length);
                _session.Upsert(ref key, ref value);
            }
        }
        _session.CompletePending(wait: true);
        Checkpoint();
    }

    public long Scan(RecordVisitor visitor)
    {
        long count = 0;
        using var iterator = _session.Iterate();
        while (iterator.GetNext(out _))
        {
            visitor(iterator.GetKey().AsReadOnlySpan(), iterator.GetValue().AsReadOnlySpan());
            count++;
        }
        return count;
    }

    public void Compact()
    {
        _session.Compact(_store.Log.SafeReadOnlyAddress, CompactionType.Scan);
        // The checkpoint persists the new begin address and deletes the log segments wholly below it (in our runs,
        // not those written before the store was reopened).
        Checkpoint();
    }

    /// <summary>FASTER's log only grows: compact once it holds more than this many bytes of records.</summary>
    private const long CompactAbove = 64L << 20;

    public void Maintain()
    {
        if (_store.Log.TailAddress - _store.Log.BeginAddress > CompactAbove)
        {
            Compact();
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _store.Dispose();
        _settings.Dispose();
    }

    private void Checkpoint()
    {
        var (success, _) = _store.TakeHybridLogCheckpointAsync(CheckpointType.FoldOver).AsTask().GetAwaiter().GetResult();
        if (!success)
        {
            throw new InvalidOperationException("faster: checkpoint failed");
        }
    }
}
