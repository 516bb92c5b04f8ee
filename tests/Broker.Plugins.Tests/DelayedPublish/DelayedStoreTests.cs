using System.Text;
using Broker.Abstractions;
using Broker.Plugins.DelayedPublish;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>The file (and hand-over) format keeps every part of a message that is forwarded.</summary>
public sealed class DelayedStoreTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 22, 5, 0, 0, TimeSpan.Zero);

    private static DelayedEntry Full() => new(s_now.AddSeconds(30), new BrokerMessage
    {
        Topic = "a/b",
        Payload = new byte[] { 0, 1, 2, 0xff },
        Qos = MqttQos.ExactlyOnce,
        Retain = true,
        MessageExpiryInterval = 60,
        PublisherId = "pub-1",
        Timestamp = s_now,
        Properties = new MessageProperties
        {
            PayloadFormatIndicator = 1,
            ContentType = "application/json",
            ResponseTopic = "reply/to",
            CorrelationData = new byte[] { 9, 8, 7 },
            UserProperties = [new("a", "1"), new("dup", "x"), new("dup", "y"), new("ü", "ñ")],
        },
    });

    private static DelayedEntry Bare() => new(s_now.AddSeconds(1), new BrokerMessage { Topic = "t", Timestamp = s_now });

    private static List<DelayedEntry> RoundTrip(IReadOnlyCollection<DelayedEntry> entries, out string process)
    {
        using var stream = new MemoryStream();
        DelayedStore.Write(stream, entries);
        stream.Position = 0;
        return DelayedStore.Read(stream, out process);
    }

    [Fact]
    public void RoundTrip_KeepsEveryForwardedField()
    {
        var read = RoundTrip([Full(), Bare()], out var process);

        Assert.Equal(DelayedStore.CurrentProcess, process);
        Assert.Equal(2, read.Count);
        var (expected, actual) = (Full(), read[0]);
        Assert.Equal(expected.Due, actual.Due);
        var (e, a) = (expected.Message, actual.Message);
        Assert.Equal(e.Topic, a.Topic);
        Assert.Equal(e.Payload.ToArray(), a.Payload.ToArray());
        Assert.Equal(e.Qos, a.Qos);
        Assert.Equal(e.Retain, a.Retain);
        Assert.Equal(e.MessageExpiryInterval, a.MessageExpiryInterval);
        Assert.Equal(e.PublisherId, a.PublisherId);
        Assert.Equal(e.Timestamp, a.Timestamp);
        Assert.Equal(e.Properties, a.Properties); // MessageProperties compares by content

        var bare = read[1].Message;
        Assert.Null(bare.Properties);
        Assert.Null(bare.MessageExpiryInterval);
        Assert.Null(bare.PublisherId);
        Assert.True(bare.Payload.IsEmpty);
    }

    [Fact]
    public void Empty_RoundTrips()
    {
        Assert.Empty(RoundTrip([], out _));
    }

    [Fact]
    public void TruncatedOrForeignData_IsInvalid_NeverAPartialSet()
    {
        using var stream = new MemoryStream();
        DelayedStore.Write(stream, [Full(), Full()]);
        var bytes = stream.ToArray();

        for (var length = 0; length < bytes.Length; length += 7)
            Assert.Throws<InvalidDataException>(() => DelayedStore.Read(new MemoryStream(bytes[..length]), out _));
        Assert.Throws<InvalidDataException>(() => DelayedStore.Read(new MemoryStream(Encoding.UTF8.GetBytes("hello world, not ours")), out _));
    }

    [Fact]
    public void SaveAndLoad_File_ReplacesAtomically_AbsentIsEmpty()
    {
        var dir = Directory.CreateTempSubdirectory("delayed-store-");
        try
        {
            var path = Path.Combine(dir.FullName, DelayedStore.FileName);
            Assert.Empty(DelayedStore.Load(path, out var none));
            Assert.Null(none);

            DelayedStore.Save(path, [Full()]);
            DelayedStore.Save(path, [Bare(), Bare()]);

            Assert.Equal(2, DelayedStore.Load(path, out _).Count);
            Assert.False(File.Exists(path + ".tmp"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // Version 1 (before SDK 1.4) carried messages in a form of the plugin's own: a file left by it must still load.
    [Fact]
    public void Read_Version1File_StillRead()
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write("DLYP"u8);
            w.Write((byte)1);
            w.Write("1@2");
            w.Write(1);
            var (due, m) = Full();
            w.Write(due.UtcTicks);
            w.Write(m.Timestamp.UtcTicks);
            w.Write(m.Topic);
            w.Write(m.Payload.Length);
            w.Write(m.Payload.Span);
            w.Write((byte)m.Qos);
            w.Write(m.Retain);
            w.Write(true);
            w.Write(m.MessageExpiryInterval!.Value);
            w.Write(true);
            w.Write(m.PublisherId!);
            w.Write(m.IsSystem);
            w.Write((byte)(1 | 2 | 4 | 8 | 16));
            w.Write(m.Properties!.PayloadFormatIndicator!.Value);
            w.Write(m.Properties.ContentType!);
            w.Write(m.Properties.ResponseTopic!);
            w.Write(m.Properties.CorrelationData!.Value.Length);
            w.Write(m.Properties.CorrelationData.Value.Span);
            w.Write(m.Properties.UserProperties.Length);
            foreach (var (name, value) in m.Properties.UserProperties)
            {
                w.Write(name);
                w.Write(value);
            }
        }
        stream.Position = 0;

        var read = Assert.Single(DelayedStore.Read(stream, out var process));

        Assert.Equal("1@2", process);
        Assert.Equal(Full().Due, read.Due);
        Sdk.BrokerMessageCodecTests.AssertSame(Full().Message, read.Message);
    }
}
