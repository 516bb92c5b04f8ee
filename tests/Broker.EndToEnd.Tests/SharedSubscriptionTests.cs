using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>Shared subscriptions ($share/group/filter, EMQX's $queue/filter) spread messages over a group.</summary>
public sealed class SharedSubscriptionTests
{
    private const int Messages = 30;

    // MQTT 5 §4.8.2: each message goes to exactly one member of the group; round_robin makes it even.
    [Theory]
    [InlineData("mqttv5", "$share/g/shared/t")]
    [InlineData("mqttv311", "$share/g/shared/t")]
    [InlineData("mqttv311", "$queue/shared/t")]
    public async Task SharedSubscription_ThreeSubscribersRoundRobin_EachGetsOneThird(string version, string filter)
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["broker.shared_subscription_strategy"] = "round_robin");
        var subscribers = new List<ChildProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                subscribers.Add(await MosquittoClients.SubscribeAsync(broker, "-V", version, "-q", "1", "-i", $"member{i}", "-t", filter));
            }

            var total = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var received = 0;
            foreach (var sub in subscribers)
            {
                sub.LineReceived += line =>
                {
                    if (ReceivedMessage.IsMessage(line) && Interlocked.Increment(ref received) >= Messages)
                    {
                        total.TrySetResult();
                    }
                };
            }

            if (subscribers.Sum(s => MosquittoClients.MessagesSoFar(s).Count) > 0)
            {
                Assert.Fail("messages arrived before any was published");
            }

            await MosquittoClients.PublishAsync(broker, ["-V", version, "-q", "1", "-t", "shared/t"], Enumerable.Range(0, Messages).Select(i => $"s{i}"));
            try
            {
                await total.Task.WaitAsync(MosquittoClients.Timeout, TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"only {Volatile.Read(ref received)} of {Messages} messages reached the group");
            }

            var perMember = subscribers.Select(s => MosquittoClients.MessagesSoFar(s)).ToList();
            var all = perMember.SelectMany(m => m).Select(m => m.Payload).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => $"s{i}").Order(StringComparer.Ordinal), all);
            Assert.All(perMember, m => Assert.Equal(Messages / 3, m.Count));
            Assert.All(perMember, m => Assert.All(m, x => Assert.Equal("shared/t", x.Topic)));
        }
        finally
        {
            foreach (var sub in subscribers)
            {
                await sub.DisposeAsync();
            }
        }
    }
}
