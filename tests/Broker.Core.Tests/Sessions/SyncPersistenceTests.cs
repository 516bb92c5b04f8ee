using Broker.Abstractions;
using Broker.Core.Configuration;
using Broker.Core.Persistence;
using Broker.Core.Tests.Persistence;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// <c>persistence.sync = sync</c> on the sending side: a persistent session sends a PUBLISH or PUBREL only once the state
/// it stands for is on disk, so a crash never makes it go back a step its client has already taken.
/// </summary>
public sealed class SyncPersistenceTests
{
    // The subscriber's PUBREC for message A arrives while the write carrying message B's copy is on its way to the disk
    // (it took its batch before A's "released" state was put). The PUBREL for A must wait for a write that has that
    // state: sent on B's write, a crash before the next one would bring A back as "PUBLISH sent", the broker would send
    // it again after the restart, and the subscriber, which completed A on that PUBREL, would deliver it twice (what
    // PersistenceTests.Sigkill20Times_Sync once saw: 'q2-0-227' delivered twice).
    [Fact]
    public async Task PubRecDuringAWrite_PubRelWaitsForAWriteOfTheReleasedState()
    {
        using var gate = new ManualResetEventSlim(true);
        var store = new MemoryStore { Gate = gate };
        await using var broker = Start(store);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);
        await pub.PublishAsync("t", "a", MqttQos.ExactlyOnce);
        var a = await sub.ReceivePublishAsync();
        Assert.Equal(StoredMessageState.InFlight, StateOnDisk(store, a.PacketId));

        // B's copy goes into a write that stalls on the disk.
        await StallAWriteAsync(store, gate, pub);

        // A's PUBREC, handled (its PINGRESP is back) while that write is still in progress.
        await sub.AckAsync(MqttPacketType.PubRec, a.PacketId);
        Assert.Empty(await sub.PingAsync());
        gate.Set();

        // Whenever the PUBREL for A comes, the disk already says A was released.
        await ReceiveUntilAsync<MqttAckPacket>(sub, p => p.Type == MqttPacketType.PubRel && p.PacketId == a.PacketId);
        Assert.Equal(StoredMessageState.Released, StateOnDisk(store, a.PacketId));
    }

    // The same on the first step: a message routed to the session while a write is on its way to the disk (here one the
    // broker publishes itself, so no publisher asks for a write of its own) is sent once a write has it, not when that
    // write completes. Sent earlier, a crash would lose it as never sent after the client had it; a publisher's retry
    // would then deliver it again.
    [Fact]
    public async Task RoutedDuringAWrite_PublishWaitsForAWriteOfTheMessage()
    {
        using var gate = new ManualResetEventSlim(true);
        var store = new MemoryStore { Gate = gate };
        await using var broker = Start(store);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);

        await StallAWriteAsync(store, gate, pub);
        await broker.Engine.PublishAsync(new BrokerMessage { Topic = "t", Payload = "c"u8.ToArray(), Qos = MqttQos.ExactlyOnce, Timestamp = broker.Engine.Now }, null);
        gate.Set();

        var publish = await ReceiveUntilAsync<MqttPublishPacket>(sub, p => p.Payload.Span.SequenceEqual("c"u8));
        Assert.Equal(StoredMessageState.InFlight, StateOnDisk(store, publish.PacketId));
    }

    // The receiving side: a publisher's PUBREL arrives while a write is on its way to the disk. The PUBCOMP must wait for
    // a write without the packet id: sent earlier, a crash would bring the id back as awaiting PUBREL, and the client's
    // next QoS 2 PUBLISH reusing it would be acknowledged as the earlier one sent again and never routed.
    [Fact]
    public async Task PubRelDuringAWrite_PubCompWaitsForAWriteOfTheRelease()
    {
        using var gate = new ManualResetEventSlim(true);
        var store = new MemoryStore { Gate = gate };
        await using var broker = Start(store);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311, cleanStart: false);
        var first = pub.NextPacketId();
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Payload = "a"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = first });
        Assert.IsType<MqttAckPacket>(await pub.ReceiveAsync(TimeSpan.FromSeconds(10))); // PUBREC, once the id is on disk
        Assert.True(AwaitingRelOnDisk(store, "pub", first));

        await StallAWriteAsync(store, gate, pub);
        await pub.AckAsync(MqttPacketType.PubRel, first);
        gate.Set();

        await ReceiveUntilAsync<MqttAckPacket>(pub, p => p.Type == MqttPacketType.PubComp && p.PacketId == first);
        Assert.False(AwaitingRelOnDisk(store, "pub", first));
    }

    /// <summary>The first <typeparamref name="T"/> matching <paramref name="match"/> that <paramref name="client"/> receives; others are passed over.</summary>
    private static async Task<T> ReceiveUntilAsync<T>(PipeMqttClient client, Func<T, bool> match) where T : MqttPacket
    {
        while (true)
        {
            if (await client.ReceiveAsync(TimeSpan.FromSeconds(10)) is T packet && match(packet))
                return packet;
        }
    }

    /// <summary>
    /// Closes <paramref name="gate"/> and has <paramref name="pub"/> publish message "b" to "t" at QoS 2: the write
    /// carrying its copy starts and stalls on the disk until the gate opens.
    /// </summary>
    private static async Task StallAWriteAsync(MemoryStore store, ManualResetEventSlim gate, PipeMqttClient pub)
    {
        gate.Reset();
        while (store.WriteStarted.Wait(0, TestContext.Current.CancellationToken))
        {
        }
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Payload = "b"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = pub.NextPacketId() });
        Assert.True(await store.WriteStarted.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), "no write started");
    }

    /// <summary>A broker with persistence.sync = sync over <paramref name="store"/>.</summary>
    private static TestBroker Start(MemoryStore store)
    {
        var broker = new TestBroker();
        broker.Engine.EnablePersistence(store, new PersistenceOptions
        {
            Mode = PersistenceMode.On,
            Sync = PersistenceSync.Sync,
            Interval = TimeSpan.FromHours(1), // no periodic write: only commits write
        });
        return broker;
    }

    /// <summary>The stored state of the outgoing message with <paramref name="packetId"/>.</summary>
    private static StoredMessageState StateOnDisk(MemoryStore store, ushort packetId)
    {
        foreach (var (key, value) in store.ReadAll())
        {
            if (SessionRecords.TryParseKey(key, out var kind, out var clientId, out _) && kind == 'm' && clientId == "sub"
                && SessionRecords.ReadMessage(value) is { } record && record.PacketId == packetId)
                return record.State;
        }
        throw new Xunit.Sdk.XunitException($"no stored message with packet id {packetId}");
    }

    /// <summary>Whether the disk says <paramref name="clientId"/>'s incoming QoS 2 <paramref name="packetId"/> awaits PUBREL.</summary>
    private static bool AwaitingRelOnDisk(MemoryStore store, string clientId, ushort packetId) =>
        store.ReadAll().Any(entry => SessionRecords.TryParseKey(entry.Key, out var kind, out var id, out var number)
            && kind == 'r' && id == clientId && number == packetId);
}
