using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24 item 1, "credentials and TLS for NATS": a real nats-server that requires a user and password, a token, or
/// TLS with client certificates (generated at test time), two broker nodes exchanging messages over it, and a node
/// with the wrong credentials or an untrusted server certificate serving its own clients alone, saying why in its log
/// and in <c>ctl cluster status</c> / <c>GET /api/v5/nodes</c>.
/// </summary>
public sealed class ClusterNatsSecurityTests
{
    [Fact]
    public async Task UserAndPassword_NodesExchangeOverIt_WrongPasswordLeavesTheNodeAlone()
    {
        await using var nats = await NatsServers.StartAsync(1, arguments: ["--user", "nodes", "--pass", "s3cret"]);
        await using var nodes = await StartAsync(2, nats, (_, o) =>
        {
            o["cluster.nats.username"] = "nodes";
            o["cluster.nats.password"] = "s3cret";
        });
        await AssertExchangeAsync(nodes[0], nodes[1]);

        await using var wrong = await StartNodeAsync("w", nats, 0, o =>
        {
            o["cluster.nats.username"] = "nodes";
            o["cluster.nats.password"] = "wr0ng-pass";
        });
        await AssertAloneAsync(wrong, nodes[0], "Authorization Violation");
        foreach (var node in (BrokerProcess[])[.. nodes, wrong])
        {
            Assert.DoesNotContain("s3cret", node.Transcript, StringComparison.Ordinal);
            Assert.DoesNotContain("wr0ng-pass", node.Transcript, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Token_NodesExchangeOverIt_WrongTokenLeavesTheNodeAlone()
    {
        await using var nats = await NatsServers.StartAsync(1, arguments: ["--auth", "t0ken-for-nodes"]);
        await using var nodes = await StartAsync(2, nats, (_, o) => o["cluster.nats.token"] = "t0ken-for-nodes");
        await AssertExchangeAsync(nodes[0], nodes[1]);

        await using var wrong = await StartNodeAsync("w", nats, 0, o => o["cluster.nats.token"] = "not-the-token");
        await AssertAloneAsync(wrong, nodes[0], "Authorization Violation");
        foreach (var node in (BrokerProcess[])[.. nodes, wrong])
        {
            Assert.DoesNotContain("t0ken-for-nodes", node.Transcript, StringComparison.Ordinal);
            Assert.DoesNotContain("not-the-token", node.Transcript, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Tls_WithClientCertificates_NodesExchangeOverIt_UntrustedServerOrNoClientCertificateLeavesTheNodeAlone()
    {
        using var certs = TestCertificates.Create();
        // --tlsverify: NATS requires a client certificate from its CA, so the nodes that join prove certfile/keyfile are applied.
        await using var nats = await NatsServers.StartAsync(1, arguments:
            ["--tlsverify", "--tlscert", certs.ServerCertFile, "--tlskey", certs.ServerKeyFile, "--tlscacert", certs.CaFile]);
        await using var nodes = await StartAsync(2, nats, (_, o) =>
        {
            o["cluster.nats.tls"] = "on";
            o["cluster.nats.tls.cacertfile"] = certs.CaFile;
            o["cluster.nats.tls.certfile"] = certs.ClientCertFile;
            o["cluster.nats.tls.keyfile"] = certs.ClientKeyFile;
        });
        await AssertExchangeAsync(nodes[0], nodes[1]);
        Assert.Contains("TLS required for client connections", nats.Transcript(0), StringComparison.Ordinal);

        // Trusting another CA: NATS' certificate is refused by the node.
        await using (var untrusting = await StartNodeAsync("w", nats, 0, o =>
        {
            o["cluster.nats.tls"] = "on";
            o["cluster.nats.tls.cacertfile"] = certs.OtherCaFile;
            o["cluster.nats.tls.certfile"] = certs.ClientCertFile;
            o["cluster.nats.tls.keyfile"] = certs.ClientKeyFile;
        }))
        {
            await AssertAloneAsync(untrusting, nodes[0], "remote certificate");
        }

        // Trusting NATS but presenting no certificate: NATS refuses the node.
        await using var anonymous = await StartNodeAsync("x", nats, 0, o =>
        {
            o["cluster.nats.tls"] = "on";
            o["cluster.nats.tls.cacertfile"] = certs.CaFile;
        });
        await AssertAloneAsync(anonymous, nodes[0], "");
    }

    /// <summary>A subscriber on each node gets what is published on the other (QoS 1, across NATS).</summary>
    private static async Task AssertExchangeAsync(BrokerProcess a, BrokerProcess b)
    {
        await using var subA = await MosquittoClients.SubscribeAsync(a, "-q", "1", "-t", "sec/#", "-i", "sub-a");
        await using var subB = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "sec/#", "-i", "sub-b");
        await UntilAsync(a, n => Node(n, b.NodeName).GetProperty("routes").GetInt32() == 1, "a to hold b's route");
        await UntilAsync(b, n => Node(n, a.NodeName).GetProperty("routes").GetInt32() == 1, "b to hold a's route");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "sec/1", "-m", "from-a"]);
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "sec/2", "-m", "from-b"]);
        Assert.Equal(["from-a", "from-b"], (await MosquittoClients.MessagesAsync(subB, 2)).Select(m => m.Payload));
        Assert.Equal(["from-a", "from-b"], (await MosquittoClients.MessagesAsync(subA, 2)).Select(m => m.Payload));
        Assert.Equal(1, Self(await NodesAsync(b)).GetProperty("forwarded_in").GetInt64());
    }

    /// <summary>
    /// <paramref name="lone"/> could not get into NATS: it says why (containing <paramref name="reason"/>) in its log,
    /// its API and ctl; it serves its own clients; <paramref name="member"/> of the cluster never hears of it.
    /// </summary>
    private static async Task AssertAloneAsync(BrokerProcess lone, BrokerProcess member, string reason)
    {
        var line = await lone.WaitForLogAsync(l => (l.Contains("Cluster: cannot connect to NATS", StringComparison.Ordinal)
            || l.Contains("refused this node", StringComparison.Ordinal)) && l.Contains(reason, StringComparison.Ordinal), $"{lone.NodeName} to say why it cannot get into NATS", Deadline);
        Assert.Contains("serving this node's clients alone", line, StringComparison.Ordinal);
        TestContext.Current.TestOutputHelper?.WriteLine($"{lone.NodeName}: {line}");

        await using var local = await MosquittoClients.SubscribeAsync(lone, "-q", "1", "-t", "sec/#", "-i", "local-sub");
        await MosquittoClients.PublishAsync(lone, ["-q", "1", "-t", "sec/3", "-m", "alone"]);
        Assert.Equal("alone", (await MosquittoClients.MessagesAsync(local, 1))[0].Payload);

        var self = Self(await NodesAsync(lone));
        Assert.False(self.GetProperty("nats_connected").GetBoolean());
        Assert.Contains(reason, self.GetProperty("nats_error").GetString(), StringComparison.Ordinal);
        Assert.Single((await NodesAsync(lone)).EnumerateArray());
        var status = await CtlRunner.RunAsync(lone, "cluster", "status");
        Assert.True(status.ExitCode == 0, status.Transcript);
        Assert.Contains("NATS NOT connected (", status.Stdout, StringComparison.Ordinal);
        Assert.Contains(reason, status.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain((await NodesAsync(member)).EnumerateArray(), n => n.GetProperty("node").GetString() == lone.NodeName);
    }
}
