using Microsoft.Data.Sqlite;

namespace Broker.StoreBench;

/// <summary>
/// SQLite in WAL mode with synchronous=FULL: one transaction per group, so its COMMIT is the group's fsync.
/// One WITHOUT ROWID table keyed by the 16-byte key keeps records in key order without a second index.
/// </summary>
internal sealed class SqliteStore : IMessageStore
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _delete;

    public SqliteStore(string directory)
    {
        _connection = new SqliteConnection($"Data Source={Path.Combine(directory, "store.db")};Pooling=False");
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; " +
                "CREATE TABLE IF NOT EXISTS records (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;");
        _insert = Prepare("INSERT OR REPLACE INTO records (k, v) VALUES ($k, $v)", "$k", "$v");
        _delete = Prepare("DELETE FROM records WHERE k = $k", "$k");
    }

    public void Commit(ReadOnlySpan<StoreOp> batch)
    {
        using var transaction = _connection.BeginTransaction();
        _insert.Transaction = transaction;
        _delete.Transaction = transaction;
        foreach (ref readonly var op in batch)
        {
            if (op.IsDelete)
            {
                _delete.Parameters[0].Value = op.Key;
                _delete.ExecuteNonQuery();
            }
            else
            {
                _insert.Parameters[0].Value = op.Key;
                // Microsoft.Data.Sqlite binds byte[] only; the copy is part of this engine's cost.
                _insert.Parameters[1].Value = op.Value.ToArray();
                _insert.ExecuteNonQuery();
            }
        }
        transaction.Commit();
    }

    public long Scan(RecordVisitor visitor)
    {
        long count = 0;
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT k, v FROM records ORDER BY k";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            visitor(reader.GetFieldValue<byte[]>(0), reader.GetFieldValue<byte[]>(1));
            count++;
        }
        return count;
    }

    public void Compact() => Execute("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");

    public void Maintain()
    {
        // Freed pages are reused; the WAL is checkpointed automatically every 1000 pages.
    }

    public void Dispose()
    {
        _insert.Dispose();
        _delete.Dispose();
        _connection.Dispose();
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(name, SqliteType.Blob);
        }
        command.Prepare();
        return command;
    }
}
