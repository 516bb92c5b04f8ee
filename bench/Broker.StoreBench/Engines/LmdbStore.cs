using System.Runtime.InteropServices;
using LightningDB;

namespace Broker.StoreBench;

/// <summary>
/// LMDB: one write transaction per group; with default flags its commit syncs the data file (copy-on-write B+tree,
/// no separate log). The file never shrinks on its own: freed pages are reused, and compaction is a compacting copy.
/// </summary>
internal sealed class LmdbStore : IMessageStore
{
    // A sparse reservation, not an allocation: the file grows only as pages are used.
    private const long MapSize = 16L << 30;
    private readonly string _directory;
    private LightningEnvironment _environment;
    private LightningDatabase _database;

    static LmdbStore()
    {
        // LightningDB 0.24's bundled linux-x64 liblmdb.so is built against glibc 2.38 and does not load on Debian 12
        // (glibc 2.36); Debian's own liblmdb0 (LMDB 0.9.24) does, and has the same C API.
        NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, static (name, assembly, path) =>
            NativeLibrary.TryLoad(name, assembly, path, out var bundled) ? bundled
            : name == "lmdb" && NativeLibrary.TryLoad("liblmdb.so.0", out var debian) ? debian
            : IntPtr.Zero);
    }

    public LmdbStore(string directory)
    {
        _directory = directory;
        (_environment, _database) = OpenEnvironment(directory);
    }

    public void Commit(ReadOnlySpan<StoreOp> batch)
    {
        using var transaction = _environment.BeginTransaction();
        foreach (ref readonly var op in batch)
        {
            var code = op.IsDelete
                ? transaction.Delete(_database, op.Key)
                : transaction.Put(_database, op.Key, op.Value.Span);
            if (code is not MDBResultCode.Success and not MDBResultCode.NotFound)
            {
                throw new InvalidOperationException($"lmdb: {code}");
            }
        }
        Check(transaction.Commit());
    }

    public long Scan(RecordVisitor visitor)
    {
        long count = 0;
        using var transaction = _environment.BeginTransaction(TransactionBeginFlags.ReadOnly);
        using var cursor = transaction.CreateCursor(_database);
        for (var (code, key, value) = cursor.First(); code == MDBResultCode.Success; (code, key, value) = cursor.Next())
        {
            visitor(key.AsSpan(), value.AsSpan());
            count++;
        }
        return count;
    }

    public void Compact()
    {
        var copy = Path.Combine(_directory, "compacted");
        Directory.CreateDirectory(copy);
        Check(_environment.CopyTo(copy, compact: true));
        Close();
        File.Move(Path.Combine(copy, "data.mdb"), Path.Combine(_directory, "data.mdb"), overwrite: true);
        Directory.Delete(copy, recursive: true);
        (_environment, _database) = OpenEnvironment(_directory);
    }

    public void Maintain()
    {
        // Freed pages are reused by later transactions; the file keeps its high-water mark.
    }

    public void Dispose() => Close();

    private void Close()
    {
        _database.Dispose();
        _environment.Dispose();
    }

    private static (LightningEnvironment, LightningDatabase) OpenEnvironment(string directory)
    {
        var environment = new LightningEnvironment(directory, new EnvironmentConfiguration { MapSize = MapSize });
        try
        {
            environment.Open();
            using var transaction = environment.BeginTransaction();
            var database = transaction.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
            Check(transaction.Commit());
            return (environment, database);
        }
        catch
        {
            // LightningDB's finalizer throws (and ends the process) for an environment that was never disposed.
            environment.Dispose();
            throw;
        }
    }

    private static void Check(MDBResultCode code)
    {
        if (code != MDBResultCode.Success)
        {
            throw new InvalidOperationException($"lmdb: {code}");
        }
    }
}
