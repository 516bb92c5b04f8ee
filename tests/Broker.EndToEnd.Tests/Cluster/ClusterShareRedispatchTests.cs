using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, "$share groups span nodes": a share group's message whose chosen node cannot serve it goes to another node
/// with members, as EMQX redispatches a shared message whose chosen member is gone. Three nodes over one NATS server
/// (the test kills a broker node, never a NATS server), mosquitto clients; waits are on client output and log lines,
/// each with a deadline.
/// </summary>
public sealed class ClusterShareRedispatchTests
{
    // Before: what a sent to b between the SIGKILL and finding b down (cluster.node_timeout, 1 s), about half the
    // group's messages of that second, was lost for the group.
    [Fact]
    public async Task SharedGroup_ChosenNodeKilledMidStream_MessagesReachAMemberOnTheOtherNode_NoneLostButWhatItHadAcknowledged()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);

        // Group g: one member on b, one on c, none on a (the publisher's node), so a sends each message to b or c in turn.
        await using var gB = await MosquittoClients.SubscribeAsync(b, "-V", "mqttv5", "-q", "1", "-t", "$share/g/r/#", "-i", "g-b");
        await using var gC = await MosquittoClients.SubscribeAsync(c, "-V", "mqttv5", "-q", "1", "-t", "$share/g/r/#", "-i", "g-c");
        await UntilAsync(a, n => Node(n, b.NodeName).GetProperty("routes").GetInt32() == 1
            && Node(n, c.NodeName).GetProperty("routes").GetInt32() == 1, "a to hold b's and c's routes of g");

        // 600 numbered QoS 1 messages over about 3 s; b is killed once its member has some, so the stream goes on through
        // the second before a finds b down, and after.
        const int count = 600;
        await using var publisher = SteadyPublisher.Start(a, "r/n", "pub-a", count, TimeSpan.FromMilliseconds(5));
        await MosquittoClients.MessagesAsync(gB, 25, Deadline);
        b.Signal("KILL");
        await a.WaitForLogAsync(l => l.Contains($"node {b.NodeName} is down", StringComparison.Ordinal), "a to find b down", Deadline);

        // Every PUBACK came (a QoS 1 message sent to b waits for the node it went to next), then every number reached
        // one member, but for the few b had acknowledged (in its member's session, not yet read by the member) when it
        // died: without persistence those are lost with b's sessions, as a single broker loses what it PUBACKed and had
        // not delivered when killed (README, "the receiving node dies after acknowledging"). One such was seen in a
        // clean-clone run; the bug this test is for lost the whole second before a found b down, about 100.
        await publisher.CompletedAsync(TimeSpan.FromSeconds(60));
        await CoveredAsync(count, lostWithB: 5, gB, gC);

        var onB = Payloads(gB);
        var onC = Payloads(gC);
        TestContext.Current.TestOutputHelper?.WriteLine($"g's member on b got {onB.Count} before the kill, on c {onC.Count}");
        Assert.Equal(onC.Count, onC.Distinct().Count()); // none twice on the node that stayed
        Assert.Equal(onB.Count, onB.Distinct().Count());
        // A message b's member had just received when b died, but whose acknowledgement had not reached a yet, is sent
        // to c too: at least once, as for any QoS 1 message whose receiver dies before it says it has it. Only those.
        var twice = onB.Intersect(onC).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"received on both b and c: {twice.Count} ({string.Join(',', twice)})");
        Assert.True(twice.Count <= 5, $"{twice.Count} messages reached both b and c: {string.Join(',', twice)}");
        Assert.All(MosquittoClients.MessagesSoFar(gC), m => Assert.Equal(1, m.Qos));
        await a.WaitForLogAsync(l => l.Contains($"came back from node {b.NodeName}", StringComparison.Ordinal), "a to log the redispatch", Deadline);
        Assert.True(Self(await NodesAsync(a)).GetProperty("forward_redispatched").GetInt64() >= 1, "forward_redispatched counts them");
    }

    private static List<int> Payloads(params ChildProcess[] subscribers) =>
        [.. subscribers.SelectMany(MosquittoClients.MessagesSoFar).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture))];

    /// <summary>
    /// Waits (on their output) until the members have printed every number below <paramref name="count"/> between them;
    /// at the deadline, fails if more than <paramref name="lostWithB"/> are missing.
    /// </summary>
    private static async Task CoveredAsync(int count, int lostWithB, params ChildProcess[] members)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(string line)
        {
            if (Payloads(members).Distinct().Count() >= count)
                done.TrySetResult();
        }
        foreach (var member in members)
            member.LineReceived += Check;
        try
        {
            Check("");
            await done.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            var missing = Enumerable.Range(0, count).Except(Payloads(members)).ToList();
            TestContext.Current.TestOutputHelper?.WriteLine($"missing: {string.Join(',', missing)}");
            Assert.True(missing.Count <= lostWithB, $"the group lost {missing.Count} of {count} messages: {string.Join(',', missing.Take(50))}");
        }
        finally
        {
            foreach (var member in members)
                member.LineReceived -= Check;
        }
    }
}
