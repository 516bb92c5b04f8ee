using Broker.Abstractions;
using Broker.Plugins.Retainer;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Plugins.Tests.Retainer;

public sealed class RetainerStorageTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("retainer-storage-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static BrokerMessage Message(string topic, string payload = "x") => new()
    {
        Topic = topic,
        Payload = System.Text.Encoding.UTF8.GetBytes(payload),
        Qos = MqttQos.AtLeastOnce,
        Retain = true,
        Timestamp = T0,
    };

    private (RetainedStore Store, RetainerStorage Storage, int Restored) Open(RetainerStorageType type, string runId = "run-1")
    {
        var storage = new RetainerStorage(_dir.FullName, type, NullLogger.Instance, runId);
        var store = new RetainedStore(new RetainerOptions(), storage.Enqueue);
        return (store, storage, storage.Open(store, T0));
    }

    private static List<string> All(RetainedStore store) => [.. store.Snapshot().Select(m => $"{m.Topic}={System.Text.Encoding.UTF8.GetString(m.Payload.Span)}").Order(StringComparer.Ordinal)];

    [Fact]
    public void Record_RoundTrips_EveryForwardedField()
    {
        var message = Message("a/b") with
        {
            Qos = MqttQos.ExactlyOnce,
            MessageExpiryInterval = 42,
            PublisherId = "pub",
            IsSystem = true,
            Properties = new MessageProperties
            {
                PayloadFormatIndicator = 1,
                ContentType = "text/plain",
                ResponseTopic = "reply/here",
                CorrelationData = new byte[] { 1, 2, 3 },
                UserProperties = [new("k", "v"), new("k", "w")],
            },
        };
        using var stream = new MemoryStream();
        RetainedRecords.Write(stream, message.Topic, message);
        RetainedRecords.Write(stream, "gone", null);
        stream.Position = 0;
        var records = RetainedRecords.ReadAll(stream, legacy: false, out var torn);
        Assert.False(torn);
        Assert.Equal(2, records.Count);
        var read = records[0].Message!;
        Assert.Equal(message.Payload.ToArray(), read.Payload.ToArray());
        Assert.Equal((message.Topic, message.Qos, message.MessageExpiryInterval, message.PublisherId, message.IsSystem, message.Timestamp),
            (read.Topic, read.Qos, read.MessageExpiryInterval, read.PublisherId, read.IsSystem, read.Timestamp));
        Assert.Equal((byte)1, read.Properties!.PayloadFormatIndicator);
        Assert.Equal("text/plain", read.Properties.ContentType);
        Assert.Equal("reply/here", read.Properties.ResponseTopic);
        Assert.Equal([1, 2, 3], read.Properties.CorrelationData!.Value.ToArray());
        Assert.Equal(message.Properties.UserProperties, read.Properties.UserProperties);
        Assert.Equal(("gone", (BrokerMessage?)null), records[1]);
    }

    [Fact]
    public void ReadAll_TornLastRecord_ReturnsTheWholeOnes()
    {
        using var stream = new MemoryStream();
        RetainedRecords.Write(stream, "a", Message("a"));
        RetainedRecords.Write(stream, "b", Message("b"));
        var cut = new MemoryStream(stream.ToArray()[..^3]);
        var records = RetainedRecords.ReadAll(cut, legacy: false, out var torn);
        Assert.True(torn);
        Assert.Equal("a", Assert.Single(records).Topic);
    }

    [Fact]
    public async Task Disc_FlushedState_IsRestoredByTheNextInstance()
    {
        var (store, storage, restored) = Open(RetainerStorageType.Disc);
        Assert.Equal(0, restored);
        store.Apply(Message("a"));
        store.Apply(Message("b"));
        store.Apply(Message("a", "2"));
        store.Apply(Message("b", ""));
        await storage.FlushAsync();
        await storage.DisposeAsync();

        var (again, storage2, count) = Open(RetainerStorageType.Disc, "another-process");
        Assert.Equal(1, count);
        Assert.Equal(["a=2"], All(again));
        await storage2.DisposeAsync();
    }

    [Fact]
    public async Task Disc_WithoutFlush_LogIsReplayed()
    {
        // A broker that died: the log writer had written the records, but no snapshot was taken at stop.
        var (store, storage, _) = Open(RetainerStorageType.Disc);
        store.Apply(Message("a"));
        store.Apply(Message("c/d"));
        store.Apply(Message("a", ""));
        await storage.DisposeAsync(); // drains the queue into the log, writes no snapshot

        var (again, storage2, count) = Open(RetainerStorageType.Disc, "after-crash");
        Assert.Equal(1, count);
        Assert.Equal(["c/d=x"], All(again));
        await storage2.DisposeAsync();
    }

    // How the writer batches the 30,000 changes depends on scheduling (one batch when it starts late, many under
    // load), and so does where the last compaction falls; what holds for every batching: it compacted at least once
    // while running, and the log left holds at most CompactAfterRecords records (a compaction follows any batch that
    // takes it past them). DisposeAsync waits for the writer, so both are settled when it returns.
    [Fact]
    public async Task Disc_ManyChanges_CompactedWhileRunning_NothingLost()
    {
        var (store, storage, _) = Open(RetainerStorageType.Disc);
        Assert.Equal(1, storage.Compactions); // at open
        for (var i = 0; i < RetainerStorage.CompactAfterRecords * 3; i++)
            store.Apply(Message($"t/{i % 50}", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await storage.DisposeAsync();
        Assert.True(storage.Compactions >= 2, $"compacted while running ({storage.Compactions - 1} times)");
        Assert.InRange(LogRecords(), 0, RetainerStorage.CompactAfterRecords);

        var (again, storage2, count) = Open(RetainerStorageType.Disc, "after-crash");
        Assert.Equal(50, count);
        Assert.Contains($"t/49={RetainerStorage.CompactAfterRecords * 3 - 1}", All(again));
        await storage2.DisposeAsync();
    }

    /// <summary>The number of records in retained.log.</summary>
    private int LogRecords()
    {
        using var input = File.OpenRead(Path.Combine(_dir.FullName, "retained.log"));
        Assert.True(RetainedRecords.ReadMagic(input, RetainedRecords.LogMagic, RetainedRecords.LegacyLogMagic, out var legacy));
        var records = RetainedRecords.ReadAll(input, legacy, out var torn);
        Assert.False(torn);
        return records.Count;
    }

    [Fact]
    public async Task Ram_SnapshotIsReadBySameProcessOnly()
    {
        var (store, storage, _) = Open(RetainerStorageType.Ram);
        store.Apply(Message("a"));
        await storage.FlushAsync();
        await storage.DisposeAsync();
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "retained.log")));

        var (reloaded, storage2, count) = Open(RetainerStorageType.Ram);
        Assert.Equal(1, count);
        Assert.Equal(["a=x"], All(reloaded));
        await storage2.DisposeAsync();

        var (restarted, storage3, none) = Open(RetainerStorageType.Ram, "run-2");
        Assert.Equal(0, none);
        Assert.Empty(All(restarted));
        await storage3.DisposeAsync();
    }

    [Fact]
    public async Task RamToDisc_KeepsTheMessages()
    {
        var (store, storage, _) = Open(RetainerStorageType.Ram);
        store.Apply(Message("a"));
        await storage.FlushAsync();
        var (_, disc, count) = Open(RetainerStorageType.Disc);
        Assert.Equal(1, count);
        await disc.DisposeAsync();
    }

    // The first format (RETLOG01, before SDK 1.4) is still read, so an upgraded broker keeps a disc store.
    [Fact]
    public void ReadAll_FirstFormat_StillRead()
    {
        var m = Sdk.BrokerMessageCodecTests.Full();
        using var stream = new MemoryStream();
        stream.Write("RETLOG01"u8);
        WriteRecord(stream, w =>
        {
            w.Write((byte)1);
            w.Write(m.Topic);
            w.Write((byte)m.Qos);
            w.Write(m.Timestamp.UtcTicks);
            w.Write((byte)(1 | 2 | 4 | 8));
            w.Write(m.MessageExpiryInterval!.Value);
            w.Write(m.PublisherId!);
            w.Write(m.Payload.Length);
            w.Write(m.Payload.Span);
            w.Write(true);
            w.Write(m.Properties!.PayloadFormatIndicator!.Value);
            w.Write(true);
            w.Write(m.Properties.ContentType!);
            w.Write(true);
            w.Write(m.Properties.ResponseTopic!);
            w.Write(true);
            w.Write(m.Properties.CorrelationData!.Value.Length);
            w.Write(m.Properties.CorrelationData.Value.Span);
            w.Write(m.Properties.UserProperties.Length);
            foreach (var (name, value) in m.Properties.UserProperties)
            {
                w.Write(name);
                w.Write(value);
            }
        });
        WriteRecord(stream, w =>
        {
            w.Write((byte)2);
            w.Write("gone");
        });
        stream.Position = 0;

        Assert.True(RetainedRecords.ReadMagic(stream, RetainedRecords.LogMagic, RetainedRecords.LegacyLogMagic, out var legacy));
        var records = RetainedRecords.ReadAll(stream, legacy, out var torn);

        Assert.True(legacy);
        Assert.False(torn);
        Assert.Equal(2, records.Count);
        Sdk.BrokerMessageCodecTests.AssertSame(m, records[0].Message!);
        Assert.Equal(("gone", (BrokerMessage?)null), records[1]);
    }

    private static void WriteRecord(Stream stream, Action<BinaryWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
            body(w);
        stream.Write(BitConverter.GetBytes((int)buffer.Length));
        stream.Write(buffer.ToArray());
    }
}
