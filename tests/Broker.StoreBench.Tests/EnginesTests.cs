namespace Broker.StoreBench.Tests;

/// <summary>
/// Smoke tests of the benchmark's engines: what was committed is what a reopened store scans back, before and after
/// compaction. Nothing here is timed.
/// </summary>
public sealed class EnginesTests : IDisposable
{
    private const int Sessions = 100;
    private const int PerSession = 10;
    private readonly string _directory = Directory.CreateTempSubdirectory("storebench-test-").FullName;

    [Theory]
    [InlineData("rocksdb")]
    [InlineData("sqlite")]
    [InlineData("lmdb")]
    [InlineData("wal")]
    // Not FASTER: 2.6.5 scans deleted records back, with corrupted keys, after a reopen (bench/README.md, Persistence
    // store); it is out of the running, and a test that skips would only say so in every total.
    public void Commit_ThenReopen_ScansBackLiveRecords(string engine)
    {
        var records = new Records(0);
        var expected = new Dictionary<string, byte[]>();
        var batch = new List<StoreOp>();
        for (var s = 0; s < Sessions; s++)
        {
            Put(batch, expected, Records.SessionKey(s), Records.SessionValue(s));
            for (var q = 0; q < PerSession; q++)
            {
                Put(batch, expected, Records.MessageKey(s, q), records.MessageValue(s * PerSession + q).ToArray());
            }
        }
        using (var store = Engines.Open(engine, _directory))
        {
            store.Commit(batch.ToArray());
            // Ack the first message of every session in a second batch.
            var acks = new List<StoreOp>();
            for (var s = 0; s < Sessions; s++)
            {
                var key = Records.MessageKey(s, 0);
                acks.Add(StoreOp.Delete(key));
                expected.Remove(Convert.ToHexString(key));
            }
            store.Commit(acks.ToArray());
        }

        using (var reopened = Engines.Open(engine, _directory))
        {
            Assert.Equal(expected, ScanAll(reopened));
            reopened.Compact();
            Assert.Equal(expected, ScanAll(reopened));
        }
        using var afterCompaction = Engines.Open(engine, _directory);
        Assert.Equal(expected, ScanAll(afterCompaction));
    }

    [Fact]
    public async Task GroupCommitter_AppendedMessagesAreDurableWhenTheirTasksComplete()
    {
        var records = new Records(0);
        using (var store = Engines.Open("sqlite", _directory))
        {
            var committed = new List<Task>();
            using (var committer = new GroupCommitter(store, interval: null, ackLag: 1000))
            {
                for (var n = 0; n < 500; n++)
                {
                    committed.Add(committer.Append(StoreOp.Put(Records.MessageKey(n % 7, n), records.MessageValue(n)), out _));
                }
                await Task.WhenAll(committed);
                Assert.Equal(500, committer.Committed);
            }
        }
        using var reopened = Engines.Open("sqlite", _directory);
        Assert.Equal(500, reopened.Scan((_, _) => { }));
    }

    [Fact]
    public void Wal_TornTail_IsCutOffAtReopen()
    {
        var records = new Records(0);
        using (var store = Engines.Open("wal", _directory))
        {
            store.Commit([StoreOp.Put(Records.MessageKey(1, 1), records.MessageValue(1))]);
        }
        // A crash in the middle of the next group's write: a header promising more bytes than made it to disk.
        var segment = Directory.GetFiles(_directory, "*.wal").Order().Last();
        File.AppendAllBytes(segment, [200, 0, 0, 0, 1, 2, 3, 4, 1]);

        using (var reopened = Engines.Open("wal", _directory))
        {
            Assert.Equal(1, reopened.Scan((_, _) => { }));
            reopened.Commit([StoreOp.Put(Records.MessageKey(1, 2), records.MessageValue(2))]);
        }
        using var again = Engines.Open("wal", _directory);
        Assert.Equal(2, again.Scan((_, _) => { }));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static void Put(List<StoreOp> batch, Dictionary<string, byte[]> expected, byte[] key, byte[] value)
    {
        batch.Add(StoreOp.Put(key, value));
        expected[Convert.ToHexString(key)] = value;
    }

    private static Dictionary<string, byte[]> ScanAll(IMessageStore store)
    {
        var found = new Dictionary<string, byte[]>();
        store.Scan((key, value) => found.Add(Convert.ToHexString(key), value.ToArray()));
        return found;
    }
}
