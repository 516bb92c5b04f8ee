using RocksDbSharp;

namespace Broker.StoreBench;

/// <summary>RocksDB: one WriteBatch per group, written with sync=true (WAL fsync); deletes are tombstones.</summary>
internal sealed class RocksDbStore : IMessageStore
{
    private readonly RocksDb _db;
    private readonly WriteOptions _sync = new WriteOptions().SetSync(true);

    public RocksDbStore(string directory)
    {
        var options = new DbOptions().SetCreateIfMissing(true);
        _db = RocksDb.Open(options, directory);
    }

    public void Commit(ReadOnlySpan<StoreOp> batch)
    {
        using var writeBatch = new WriteBatch();
        foreach (ref readonly var op in batch)
        {
            if (op.IsDelete)
            {
                writeBatch.Delete(op.Key);
            }
            else
            {
                writeBatch.Put(op.Key, op.Value.Span);
            }
        }
        _db.Write(writeBatch, _sync);
    }

    public long Scan(RecordVisitor visitor)
    {
        long count = 0;
        using var iterator = _db.NewIterator();
        for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
        {
            visitor(iterator.GetKeySpan(), iterator.GetValueSpan());
            count++;
        }
        return count;
    }

    public void Compact()
    {
        _db.Flush(new FlushOptions().SetWaitForFlush(true));
        _db.CompactRange((byte[]?)null, null);
    }

    public void Maintain()
    {
        // Background flushes and compactions run on RocksDB's own threads.
    }

    public void Dispose() => _db.Dispose();
}
