using Xunit;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Persistence;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Core.Tests.Persistence;

/// <summary>An <see cref="IPersistentStore"/> in memory that records each batch and can be made to fail like a full disk.</summary>
internal sealed class MemoryStore : IPersistentStore
{
    public SortedDictionary<string, byte[]> Data { get; } = new(StringComparer.Ordinal);
    public List<IReadOnlyCollection<KeyValuePair<string, byte[]?>>> Batches { get; } = [];
    public volatile bool Full;

    /// <summary>When set, a write waits for it (a slow disk), after saying it started.</summary>
    public ManualResetEventSlim? Gate;
    public readonly SemaphoreSlim WriteStarted = new(0);

    public void Apply(IReadOnlyCollection<KeyValuePair<string, byte[]?>> batch)
    {
        WriteStarted.Release();
        Gate?.Wait();
        if (Full)
            throw new IOException("No space left on device");
        lock (Data)
        {
            Batches.Add(batch);
            foreach (var (key, value) in batch)
            {
                if (value is null)
                    Data.Remove(key);
                else
                    Data[key] = value;
            }
        }
    }

    public IEnumerable<KeyValuePair<string, byte[]>> ReadAll()
    {
        lock (Data)
            return [.. Data];
    }

    public long SizeOnDisk => 0;

    public void Dispose()
    {
    }
}

public sealed class PersistenceJournalTests
{
    private static PersistenceJournal Journal(MemoryStore store) => new(store, TimeSpan.FromHours(1), NullLogger.Instance);

    private static JournalKey S(string clientId) => JournalKey.Session(clientId);

    private static JournalKey M(long sequence) => JournalKey.Message("c", sequence);

    [Fact]
    public async Task Commit_WritesWhatIsPending_AsOneBatch()
    {
        var store = new MemoryStore();
        await using var journal = Journal(store);
        journal.Put(S("a"), [1], isNew: true);
        journal.Put(S("b"), [2], isNew: true);
        journal.Put(S("a"), [3], isNew: false);
        await journal.CommitAsync();
        Assert.Single(store.Batches);
        Assert.Equal([3], store.Data["s/a"]);
        Assert.Equal([2], store.Data["s/b"]);
        Assert.Equal(0, journal.Pending);
    }

    // A message acknowledged before the write never reaches the disk; one already written gets its delete.
    [Fact]
    public async Task DeleteOfANewKeyBeforeTheWrite_CancelsBoth_ADeleteOfAWrittenKeyIsWritten()
    {
        var store = new MemoryStore();
        await using var journal = Journal(store);
        journal.Put(M(1), [1], isNew: true);
        journal.Delete(M(1));
        Assert.Equal(0, journal.Pending);
        await journal.CommitAsync();
        Assert.Empty(store.Batches);

        journal.Put(M(2), [2], isNew: true);
        await journal.CommitAsync();
        journal.Put(M(2), [3], isNew: false); // in flight now
        journal.Delete(M(2));                 // acknowledged
        await journal.CommitAsync();
        Assert.False(store.Data.ContainsKey(M(2).ToString()));
        Assert.Equal(2, store.Batches.Count);
    }

    // Periodic mode: a change waits one tick (half the interval) for its acknowledgement, and is written at the next.
    [Fact]
    public async Task Tick_WritesWhatChangedBeforeThePreviousTick_AnAckInBetweenCancelsTheWrite()
    {
        var store = new MemoryStore();
        await using var journal = Journal(store);
        journal.Put(M(1), [1], isNew: true);
        await journal.WriteOnceAsync();
        Assert.Empty(store.Batches);
        journal.Put(M(2), [2], isNew: true);
        await journal.WriteOnceAsync();
        Assert.Equal(["m/c/0000000000000001"], store.Data.Keys);

        journal.Delete(M(2)); // acknowledged after one tick: never written
        journal.Delete(M(1)); // acknowledged after it was written: its delete is
        await journal.WriteOnceAsync();
        await journal.WriteOnceAsync();
        Assert.Empty(store.Data);
        Assert.Equal(2, store.Batches.Count);
        Assert.Equal(0, journal.Pending);
    }

    // A newer value of a key waiting for its write replaces it, and stays "new" when the older one never reached the disk.
    [Fact]
    public async Task PutOverAValueWaitingATick_KeepsTheNewest_AndItsNewness()
    {
        var store = new MemoryStore();
        await using var journal = Journal(store);
        journal.Put(M(1), [1], isNew: true);
        await journal.WriteOnceAsync();
        journal.Put(M(1), [2], isNew: false); // sent: same message, new state
        journal.Delete(M(1));
        await journal.WriteOnceAsync();
        await journal.WriteOnceAsync();
        Assert.Empty(store.Batches);
    }

    // A key changed again before its write is written at the tick its first change was due, not later: the window
    // bounds how long any accepted change waits.
    [Fact]
    public async Task PutAgainBeforeTheWrite_StillWrittenWithinTheWindowOfTheFirstChange()
    {
        var store = new MemoryStore();
        await using var journal = Journal(store);
        journal.Put(M(1), [1], isNew: true);
        await journal.WriteOnceAsync();
        journal.Put(M(1), [2], isNew: false); // sent: its state changes
        await journal.WriteOnceAsync();
        Assert.Equal([2], store.Data[M(1).ToString()]);
    }

    // A full disk: the waiter is told, nothing is lost from memory, the store is tried again once a second (commits
    // meanwhile fail at once), and the first write after space returns has it all.
    [Fact]
    public async Task FailedWrite_FaultsTheCommit_KeepsThePending_RetriesEverySecond_ThenSucceeds()
    {
        var store = new MemoryStore { Full = true };
        var time = new Broker.Core.Tests.TestTransport.FakeTimeProvider();
        await using var journal = new PersistenceJournal(store, TimeSpan.FromHours(1), NullLogger.Instance, time);
        journal.Put(S("x"), [1], isNew: false);
        await Assert.ThrowsAsync<IOException>(journal.CommitAsync);
        Assert.Equal((1, true), (journal.Failures, journal.IsFailing));
        journal.Put(S("y"), [2], isNew: false);
        store.Full = false;
        await Assert.ThrowsAsync<IOException>(journal.CommitAsync); // not tried again yet
        Assert.Empty(store.Data);
        time.Advance(TimeSpan.FromSeconds(1));
        await journal.CommitAsync();
        Assert.Equal(["s/x", "s/y"], store.Data.Keys);
        Assert.Equal((1, false), (journal.Failures, journal.IsFailing));
    }

    // Group commit: while one write is on its way to the disk, every publisher that commits meanwhile waits for the
    // next write, and they all share it: 200 commits, 2 batches.
    [Fact]
    public async Task CommitsDuringAWrite_ShareTheNextWrite()
    {
        using var gate = new ManualResetEventSlim(false);
        var store = new MemoryStore { Gate = gate };
        await using var journal = Journal(store);
        journal.Put(M(0), [0], isNew: true);
        var first = journal.CommitAsync();
        Assert.True(await store.WriteStarted.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        var waiting = Enumerable.Range(1, 199).Select(i =>
        {
            journal.Put(M(i), [(byte)i], isNew: true);
            return journal.CommitAsync();
        }).ToList();
        gate.Set();
        await first;
        await Task.WhenAll(waiting);
        Assert.Equal(200, store.Data.Count);
        Assert.Equal(2, store.Batches.Count);
    }

    [Fact]
    public async Task Dispose_WritesWhatIsLeft()
    {
        var store = new MemoryStore();
        var journal = Journal(store);
        journal.Put(S("x"), [1], isNew: false);
        await journal.DisposeAsync();
        Assert.True(store.Data.ContainsKey("s/x"));
    }
}

public sealed class SessionRecordsTests
{
    [Fact]
    public void Session_RoundTrips()
    {
        var will = new BrokerMessage { Topic = "will/t", Payload = "bye"u8.ToArray(), Qos = MqttQos.AtLeastOnce, Timestamp = DateTimeOffset.UnixEpoch };
        var record = new SessionRecord(3600, 1234, "alice", false,
            [new("a/#", new SubscriptionOptions(MqttQos.ExactlyOnce, NoLocal: true, SubscriptionIdentifier: 7)), new("$share/g/b", new SubscriptionOptions(MqttQos.AtMostOnce))],
            ["auto/alice"], will, 5678);
        var back = SessionRecords.ReadSession(SessionRecords.Encode(record));
        Assert.Equal(record.ExpiryInterval, back.ExpiryInterval);
        Assert.Equal(record.DisconnectedAtUnixMs, back.DisconnectedAtUnixMs);
        Assert.Equal("alice", back.Username);
        Assert.Equal(record.Subscriptions, back.Subscriptions);
        Assert.Equal(["auto/alice"], back.Trusted);
        Assert.Equal("will/t", back.Will!.Topic);
        Assert.Equal(5678, back.WillAtUnixMs);
    }

    [Fact]
    public void Message_RoundTrips()
    {
        var message = new BrokerMessage { Topic = "t", Payload = new byte[] { 1, 2, 3 }, Qos = MqttQos.ExactlyOnce, Timestamp = DateTimeOffset.UnixEpoch };
        var back = SessionRecords.ReadMessage(SessionRecords.Encode(new MessageRecord(StoredMessageState.Released, 42, MqttQos.ExactlyOnce, true, [5, 6], message)));
        Assert.Equal(StoredMessageState.Released, back.State);
        Assert.Equal(42, back.PacketId);
        Assert.True(back.Retain);
        Assert.Equal([5u, 6u], back.SubscriptionIds);
        Assert.Equal(new byte[] { 1, 2, 3 }, back.Message.Payload.ToArray());
    }

    [Theory]
    [InlineData("dev/with/slashes")]
    [InlineData("x")]
    public void Keys_ParseBack_AlsoForClientIdsWithSlashes(string clientId)
    {
        Assert.True(SessionRecords.TryParseKey(JournalKey.Message(clientId, 0x1234).ToString(), out var kind, out var id, out var number));
        Assert.Equal(('m', clientId, 0x1234L), (kind, id, number));
        Assert.True(SessionRecords.TryParseKey(JournalKey.AwaitingRel(clientId, 65535).ToString(), out kind, out id, out number));
        Assert.Equal(('r', clientId, 65535L), (kind, id, number));
        Assert.True(SessionRecords.TryParseKey(JournalKey.Session(clientId).ToString(), out kind, out id, out _));
        Assert.Equal(('s', clientId), (kind, id));
        Assert.False(SessionRecords.TryParseKey("z/what", out _, out _, out _));
    }

    // A record written by a newer broker is refused, not misread: the broker will not start on it.
    [Fact]
    public void NewerFormat_IsRefused()
    {
        var bytes = SessionRecords.Encode(new SessionRecord(1, 0, null, false, [], [], null, 0));
        bytes[0] = SessionRecords.Version + 1;
        Assert.Throws<InvalidDataException>(() => SessionRecords.ReadSession(bytes));
        Assert.Throws<InvalidDataException>(() => SessionRecords.ReadSession(bytes[..3]));
    }
}
