using Broker.Abstractions;
using Broker.Core.AccessControl;
using Broker.Core.Cluster;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Connections;

/// <summary>
/// A node that has just started or joined a cluster holds CONNECTs until it has the cluster's banned list
/// (<see cref="IClusterLink.BansRead"/>): a ban made on another node refuses the client from its first CONNECT here.
/// A fake link stands for the cluster; the test completes its read.
/// </summary>
public sealed class ClusterBansReadTests
{
    private sealed class ReadingLink : IClusterLink
    {
        public TaskCompletionSource Read { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when a CONNECT has asked whether the list is read (it is then at the hold).</summary>
        public TaskCompletionSource Asked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task BansRead
        {
            get
            {
                Asked.TrySetResult();
                return Read.Task;
            }
        }

        public void RouteAdded(string route)
        {
        }

        public void RouteRemoved(string route)
        {
        }

        public ForwardOutcome Forward(BrokerMessage message, LocalDeliveries local) => default;

        public ValueTask<ClientClaim> ClaimClientAsync(string clientId, bool discard) => ValueTask.FromResult(new ClientClaim(false, null));

        public void SessionChanged(string clientId)
        {
        }
    }

    [Fact]
    public async Task Connect_BeforeTheClusterBannedListIsRead_WaitsForIt_AndABanTheReadBringsRefusesIt()
    {
        await using var broker = new TestBroker();
        var link = new ReadingLink();
        broker.Engine.AttachCluster(link);

        var client = broker.NewClient();
        var connecting = client.ConnectAsync(new MqttConnectPacket { ClientId = "bad", CleanSession = true });
        await link.Asked.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        // The read brings another node's ban (as the cluster applies it: not told back to the cluster), then completes.
        broker.Engine.Banned.Apply(new Ban(BanKind.ClientId, "bad", "", "", broker.Time.GetUtcNow(), broker.Time.GetUtcNow().AddMinutes(5)));
        Assert.False(connecting.IsCompleted, "the CONNECT was answered before the cluster's banned list was read");
        link.Read.SetResult();

        var connack = await connecting;
        Assert.Equal(MqttReasonCode.Banned, connack.ReasonCode);
        await broker.ConnectAsync("good");
    }

    [Fact]
    public async Task Connect_OnceTheClusterBannedListIsRead_IsNotHeld()
    {
        await using var broker = new TestBroker();
        var link = new ReadingLink();
        link.Read.SetResult();
        broker.Engine.AttachCluster(link);

        await broker.ConnectAsync("c1");
        broker.Engine.Banned.Apply(new Ban(BanKind.ClientId, "bad", "", "", broker.Time.GetUtcNow(), broker.Time.GetUtcNow().AddMinutes(5)));
        await broker.ConnectAsync("bad", expect: MqttReasonCode.Banned);
    }
}
