namespace Broker.StoreBench;

/// <summary>One write in a batch: a put of <see cref="Value"/>, or with <see cref="IsDelete"/> a delete of the key.</summary>
internal readonly record struct StoreOp(byte[] Key, ReadOnlyMemory<byte> Value, bool IsDelete)
{
    public static StoreOp Put(byte[] key, ReadOnlyMemory<byte> value) => new(key, value, false);

    public static StoreOp Delete(byte[] key) => new(key, ReadOnlyMemory<byte>.Empty, true);
}

internal delegate void RecordVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

/// <summary>
/// The slice of a broker store that the comparison needs: a key space written in atomic, durable batches.
/// Every engine is used the way it is meant to be used for "this batch is on disk when the call returns".
/// </summary>
internal interface IMessageStore : IDisposable
{
    /// <summary>Applies the batch atomically and returns once it is durable (fsync or the engine's equivalent).</summary>
    void Commit(ReadOnlySpan<StoreOp> batch);

    /// <summary>Visits every live record (in key order, except FASTER and our WAL: log order); returns how many.</summary>
    long Scan(RecordVisitor visitor);

    /// <summary>Reclaims the space of deleted records.</summary>
    void Compact();

    /// <summary>
    /// What the broker would have to schedule itself to keep the store's size bounded, called by the store writer
    /// between commits about once a second. Engines that reclaim space on their own do nothing here.
    /// </summary>
    void Maintain();
}

internal static class Engines
{
    public static readonly string[] All = ["rocksdb", "sqlite", "lmdb", "faster", "wal"];

    public static IMessageStore Open(string engine, string directory)
    {
        Directory.CreateDirectory(directory);
        return engine switch
        {
            "rocksdb" => new RocksDbStore(directory),
            "sqlite" => new SqliteStore(directory),
            "lmdb" => new LmdbStore(directory),
            "faster" => new FasterStore(directory),
            "wal" => new WalStore(directory),
            _ => throw new ArgumentException($"unknown engine '{engine}' (rocksdb|sqlite|lmdb|faster|wal)", nameof(engine)),
        };
    }

    /// <summary>Bytes of every file under the store's directory, as <c>du --apparent-size</c> would count them.</summary>
    public static long SizeOnDisk(string directory)
    {
        long total = 0;
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            try
            {
                total += file.Length;
            }
            catch (FileNotFoundException)
            {
                // Deleted by the engine (an old log segment or checkpoint) while we were counting.
            }
        }
        return total;
    }
}
