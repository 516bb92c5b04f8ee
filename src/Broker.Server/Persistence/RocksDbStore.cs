using System.Text;
using Broker.Core.Persistence;
using RocksDbSharp;

namespace Broker.Server.Persistence;

/// <summary>
/// The broker's <see cref="IPersistentStore"/>: RocksDB, chosen by measurement on the broker's access pattern
/// (bench/README.md, "Persistence store: engines compared"): the fastest group commit with fsync, a small steady size
/// under append-and-delete (deletes are compacted away in the background), and a restart that reads a million records in
/// about a second. Each batch is one WriteBatch written with sync (the write-ahead log fsynced).
/// </summary>
/// <remarks>
/// The store's layout version is kept under <c>meta/format</c>: a store of a newer layout is refused (the broker does not
/// start) rather than misread.
/// </remarks>
internal sealed class RocksDbStore : IPersistentStore
{
    public const int Format = 1;
    private const string FormatKey = "meta/format";

    private RocksDb? _db; // null after a failed write, until reopened
    private readonly WriteOptions _sync = new WriteOptions().SetSync(true);
    private readonly string _directory;

    private RocksDbStore(RocksDb db, string directory)
    {
        _db = db;
        _directory = directory;
    }

    /// <summary>Opens (or creates) the store in <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">It was written in a newer layout, or RocksDB cannot open it (damaged).</exception>
    public static RocksDbStore Open(string directory)
    {
        Directory.CreateDirectory(directory);
        RocksDb db;
        try
        {
            db = RocksDb.Open(new DbOptions().SetCreateIfMissing(true), directory);
        }
        catch (RocksDbException ex)
        {
            throw new InvalidDataException($"RocksDB cannot open it: {ex.Message}", ex);
        }
        var stored = db.Get(FormatKey);
        if (stored is null)
        {
            db.Put(FormatKey, Format.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        else if (!int.TryParse(stored, out var format) || format > Format)
        {
            db.Dispose();
            throw new InvalidDataException($"its layout is version {stored}, newer than this broker's {Format}: written by a newer broker");
        }
        return new RocksDbStore(db, directory);
    }

    public void Apply(IReadOnlyCollection<KeyValuePair<string, byte[]?>> batch)
    {
        using var write = new WriteBatch();
        foreach (var (key, value) in batch)
        {
            var k = Encoding.UTF8.GetBytes(key);
            if (value is null)
                write.Delete(k);
            else
                write.Put(k, value);
        }
        try
        {
            // After an I/O error (disk full) RocksDB refuses every write until it is resumed, which its C API cannot
            // do: a reopen recovers from its log. The journal keeps the batch and tries again a second later.
            (_db ??= RocksDb.Open(new DbOptions(), _directory)).Write(write, _sync);
        }
        catch (RocksDbException ex)
        {
            _db?.Dispose();
            _db = null;
            throw new IOException(ex.Message, ex);
        }
    }

    public IEnumerable<KeyValuePair<string, byte[]>> ReadAll()
    {
        using var iterator = (_db ?? throw new IOException("the store is closed after a failed write")).NewIterator();
        for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
        {
            var key = Encoding.UTF8.GetString(iterator.GetKeySpan());
            if (!key.StartsWith("meta/", StringComparison.Ordinal))
                yield return new(key, iterator.Value());
        }
    }

    public long SizeOnDisk
    {
        get
        {
            try
            {
                return new DirectoryInfo(_directory).EnumerateFiles().Sum(f => f.Length);
            }
            catch (IOException)
            {
                return 0; // a file compacted away while counting
            }
        }
    }

    public void Dispose() => _db?.Dispose();
}
