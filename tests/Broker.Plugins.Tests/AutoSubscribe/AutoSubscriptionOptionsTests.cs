using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Plugins.AutoSubscribe;

namespace Broker.Plugins.Tests.AutoSubscribe;

/// <summary>
/// Reading subscription.N.topic / .qos / .nl / .rap / .rh from auto_subscribe.conf: numbered entries bound by the SDK's
/// [ConfList], with the broker's messages (file, line, key).
/// </summary>
public sealed class AutoSubscriptionOptionsTests
{
    private static IReadOnlyList<AutoSubscription> Parse(params string[] lines) =>
        AutoSubscription.From(PluginConf.Bind<AutoSubscribeOptions>("auto_subscribe", lines));

    private static string ParseError(params string[] lines) =>
        Assert.Throws<PluginConfigurationException>(() => Parse(lines)).Message;

    [Fact]
    public void Parse_Nothing_IsEmpty() => Assert.Empty(Parse("# none"));

    [Fact]
    public void Parse_TopicOnly_HasEmqx4Defaults_Qos1()
    {
        var subscription = Assert.Single(Parse("subscription.1.topic = devices/%c/cmd"));
        Assert.Equal("devices/%c/cmd", subscription.Topic);
        Assert.Equal(new SubscriptionOptions(MqttQos.AtLeastOnce, NoLocal: false, RetainAsPublished: false, MqttRetainHandling.SendAtSubscribe), subscription.Options);
    }

    [Fact]
    public void Parse_EveryField_InNumericOrder()
    {
        var subscriptions = Parse(
            "subscription.10.topic = b",
            "subscription.2.topic = a/#",
            "subscription.2.qos = 2",
            "subscription.2.nl = 1",
            "subscription.2.rap = true",
            "subscription.2.rh = 2",
            "subscription.10.qos = 0");
        Assert.Equal(["a/#", "b"], subscriptions.Select(s => s.Topic));
        Assert.Equal(new SubscriptionOptions(MqttQos.ExactlyOnce, true, true, MqttRetainHandling.DoNotSend), subscriptions[0].Options);
        Assert.Equal(MqttQos.AtMostOnce, subscriptions[1].Options.Qos);
    }

    [Theory]
    [InlineData("subscription.1.qos = 3", "subscription.1.qos = \"3\": must be at most 2")]
    [InlineData("subscription.1.qos = one", "subscription.1.qos = \"one\": expected")]
    [InlineData("subscription.1.rh = 5", "subscription.1.rh = \"5\": must be at most 2")]
    [InlineData("subscription.1.nl = 2", "subscription.1.nl = \"2\": expected true, false, on, off, 1 or 0")]
    [InlineData("subscription.1.rap = yes", "subscription.1.rap = \"yes\": expected true, false, on, off, 1 or 0")]
    [InlineData("subscription.1.color = red", "unknown key; the fields of subscription.N are topic, qos, nl, rap, rh")]
    [InlineData("subscription.1.qso = 1", "unknown key; did you mean subscription.1.qos?")]
    [InlineData("subscription.x.qos = 1", "N must be a whole number from 1")]
    [InlineData("subscription.0.topic = a", "N must be a whole number from 1")]
    [InlineData("topic.1 = a", "unknown key")]
    public void Parse_BadValue_NamesFileLineKeyAndProblem(string line, string problem)
    {
        var message = ParseError("subscription.1.topic = a/b", line);
        var key = line[..line.IndexOf(' ', StringComparison.Ordinal)];
        Assert.Contains($"auto_subscribe.conf:2: {key}", message, StringComparison.Ordinal);
        Assert.Contains(problem, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a+/b")]
    [InlineData("$share//a")]
    [InlineData("$share/g")]
    [InlineData("$share/g+/a")]
    [InlineData("devices/%c#")]
    public void Parse_BadTopic_IsAnError(string topic)
    {
        var message = ParseError("# auto_subscribe.conf", $"subscription.1.topic = {topic}");
        Assert.Contains($"auto_subscribe.conf:2: subscription.1.topic = \"{topic}\": not a valid topic filter", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_OptionsWithoutTopic_IsAnError()
    {
        var message = ParseError("subscription.1.topic = a", "subscription.2.qos = 1");
        Assert.Contains("auto_subscribe.conf:2: subscription.2.qos = \"1\": subscription.2.topic is not set", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NoLocalSharedSubscription_IsAnError()
    {
        // It is a Protocol Error to set No Local on a shared subscription [MQTT-3.8.3-4].
        var message = ParseError("subscription.1.topic = $share/g/a", "subscription.1.nl = 1");
        Assert.Contains("auto_subscribe.conf:2: subscription.1.nl = \"1\": a shared subscription cannot be no-local", message, StringComparison.Ordinal);
        Assert.Single(Parse("subscription.1.topic = $share/g/a", "subscription.1.nl = 0"));
    }

    [Fact]
    public void Parse_SeveralBadLines_AreAllReported()
    {
        var message = ParseError("subscription.1.topic = a", "subscription.1.qos = 3", "subscription.2.topic = b", "subscription.2.rh = 9");
        Assert.Contains("auto_subscribe.conf:2: subscription.1.qos", message, StringComparison.Ordinal);
        Assert.Contains("auto_subscribe.conf:4: subscription.2.rh", message, StringComparison.Ordinal);
    }
}

/// <summary>What one connecting client is subscribed to.</summary>
public sealed class AutoSubscribePluginTests
{
    private static List<(string ClientId, string Filter, SubscriptionOptions Options)> SubscribeAll(ClientInfo client, params string[] lines)
    {
        var (configuration, originOf) = PluginConf.Load("auto_subscribe", lines);
        var context = new FakeContext(configuration, originOf);
        var plugin = new AutoSubscribePlugin();
        plugin.StartAsync(context, TestContext.Current.CancellationToken).AsTask().GetAwaiter().GetResult();
        plugin.SubscribeAll(context.Broker, client);
        return ((FakeBroker)context.Broker).Subscribed;
    }

    [Fact]
    public void SubscribeAll_ReplacesPlaceholders_InOrder()
    {
        var subscribed = SubscribeAll(new ClientInfo { ClientId = "dev1", Username = "alice" },
            "subscription.1.topic = devices/%c/cmd", "subscription.2.topic = users/%u/#", "subscription.2.qos = 0", "subscription.3.topic = all/100%");
        Assert.Equal(
            [("dev1", "devices/dev1/cmd", MqttQos.AtLeastOnce), ("dev1", "users/alice/#", MqttQos.AtMostOnce), ("dev1", "all/100%", MqttQos.AtLeastOnce)],
            subscribed.Select(s => (s.ClientId, s.Filter, s.Options.Qos)));
    }

    [Fact]
    public void SubscribeAll_UsernamePlaceholder_ClientWithoutUsername_SkipsOnlyThatOne()
    {
        var subscribed = SubscribeAll(new ClientInfo { ClientId = "dev1" }, "subscription.1.topic = users/%u/#", "subscription.2.topic = devices/%c/cmd");
        Assert.Equal(["devices/dev1/cmd"], subscribed.Select(s => s.Filter));
    }

    [Theory]
    [InlineData("+")]
    [InlineData("#")]
    [InlineData("a/b")]
    public void SubscribeAll_ClientIdWithWildcardOrSlash_IsNotSubstituted(string clientId)
    {
        // A client id "+" must not get devices/+/cmd, every device's commands.
        var subscribed = SubscribeAll(new ClientInfo { ClientId = clientId }, "subscription.1.topic = devices/%c/cmd", "subscription.2.topic = broadcast");
        Assert.Equal(["broadcast"], subscribed.Select(s => s.Filter));
    }

    private sealed class FakeContext(Microsoft.Extensions.Configuration.IConfiguration configuration, Func<string, string?> originOf) : IPluginContext
    {
        public string Name => "auto_subscribe";
        public Microsoft.Extensions.Configuration.IConfiguration Configuration => configuration;
        public Microsoft.Extensions.Logging.ILoggerFactory LoggerFactory => Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        public IHookRegistry Hooks { get; } = new NoHooks();
        public TimeProvider TimeProvider => TimeProvider.System;
        public string DataDirectory => Path.GetTempPath();
        public IBrokerServices Broker { get; } = new FakeBroker();
        public CancellationToken Stopping => CancellationToken.None;
        public T BindOptions<T>() where T : new() => global::Broker.Configuration.PluginOptions.Bind<T>(configuration);
        public string? OriginOf(string key) => originOf(key);
    }

    private sealed class NoHooks : IHookRegistry
    {
        public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
            where TContext : class => new MemoryStream();
    }

    private sealed class FakeBroker : IBrokerServices
    {
        public List<(string, string, SubscriptionOptions)> Subscribed { get; } = [];
        public string NodeName => "test";
        public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options)
        {
            Subscribed.Add((clientId, topicFilter, options));
            return true;
        }
        public ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public bool Unsubscribe(string clientId, string topicFilter) => throw new NotSupportedException();
        public ClientInfo? FindClient(string clientId) => throw new NotSupportedException();
        public IReadOnlyList<ClientInfo> ListClients() => throw new NotSupportedException();
        public IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null) => throw new NotSupportedException();
        public Task<bool> KickAsync(string clientId) => throw new NotSupportedException();
        public void SetGauge(string name, long value) => throw new NotSupportedException();
    }
}
