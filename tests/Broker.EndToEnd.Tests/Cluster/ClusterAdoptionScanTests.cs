using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Broker.EndToEnd.Tests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, adopting a dead node's sessions: the pass reads the dead node's own copies, not every copy in the cluster.
/// Two broker nodes over one NATS server with JetStream (the test stops no NATS server; over a fresh three-server cluster
/// each node's first bucket creation often went unanswered, which costs a retry); 10,000 copies written by another
/// (absent) node are put into the sessions bucket directly, next to the 100 real sessions of the node that dies.
/// </summary>
public sealed partial class ClusterAdoptionScanTests
{
    private const int Own = 100;
    private const int Others = 10_000;

    [Fact]
    public async Task NodeKilled_AdoptionReadsOnlyItsOwnCopies_NotTheOtherNodesTenThousand()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 2);
        var (a, b) = (nodes[0], nodes[1]);

        for (var i = 0; i < Own; i++)
        {
            await using var client = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("own-" + i.ToString(CultureInfo.InvariantCulture), V5, cleanStart: false, sessionExpiry: 300));
            await client.SendAsync(SubscribePacket(1, "own/" + i.ToString(CultureInfo.InvariantCulture), qos: 1, V5));
            await client.ReceiveAsync(Suback);
            await client.SendAsync(DisconnectPacket(V5));
            await client.WaitForCloseAsync();
        }
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to write its sessions' copies");

        // Another node's copies (a record's bytes do not matter: they are never restored), as that node writes them.
        await using (var connection = new NatsConnection(new NatsOpts { Url = nats.Url(0) }))
        {
            var bucket = await new NatsKVContext(new NatsJSContext(connection)).GetStoreAsync("e2e-sessions", TestContext.Current.CancellationToken);
            var value = Encoding.UTF8.GetBytes("other@127.0.0.1\n-\n" + new string('r', 150));
            foreach (var chunk in Enumerable.Range(0, Others).Chunk(256))
                await Task.WhenAll(chunk.Select(i => bucket.PutAsync(CopyKey("other@127.0.0.1", "other-" + i.ToString(CultureInfo.InvariantCulture)), value, cancellationToken: TestContext.Current.CancellationToken).AsTask()));
        }

        a.Signal("KILL");
        var pass = await b.WaitForLogAsync(l => l.Contains("adoption pass for node(s) a@127.0.0.1", StringComparison.Ordinal), "b's adoption pass over a's copies", TimeSpan.FromSeconds(60));
        var numbers = PassLine().Match(pass);
        Assert.True(numbers.Success, pass);
        var (read, adopted, ms) = (int.Parse(numbers.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(numbers.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(numbers.Groups[3].Value, CultureInfo.InvariantCulture));
        TestContext.Current.TestOutputHelper?.WriteLine($"adoption pass: {read} copies read, {adopted} adopted, {ms:0.0} ms (bucket: {Own} of a's, {Others} of another node's)");
        Assert.Equal(Own, adopted);
        Assert.Equal(Own, read);
    }

    private static string CopyKey(string writer, string clientId) => global::Broker.Cluster.ClusterNode.CopyKey(writer, clientId);

    [GeneratedRegex(@"(\d+) copies read, (\d+) adopted, in ([\d.]+) ms")]
    private static partial Regex PassLine();
}
