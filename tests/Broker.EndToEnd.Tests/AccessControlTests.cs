using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>etc/acl.conf and etc/passwd enforced on real connections.</summary>
public sealed class AccessControlTests
{
    private const string Acl = """
        {deny, all, subscribe, ["secret/#"]}.
        {deny, all, publish, ["forbidden/x"]}.
        {allow, all}.
        """;

    private const string MosquittoAcl = """
        topic deny secret/#
        topic deny forbidden/x
        topic readwrite #
        """;

    private static Task<BrokerProcess> StartWithAclAsync() => BrokerProcess.StartAsync(o =>
    {
        o.AclConf = Acl;
        o.MosquittoAcl = MosquittoAcl;
    });

    // 3.1.1 §3.9.3: SUBACK return code 0x80 Failure; 5.0 §3.9.3: reason code 0x87 Not authorized.
    [Theory]
    [InlineData(V311, 0x80)]
    [InlineData(V5, 0x87)]
    public async Task Subscribe_DeniedByAcl_SubackRefuses(byte version, byte expected)
    {
        await using var broker = await StartWithAclAsync();
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("acl-sub", version));

        await client.SendAsync(SubscribePacket(1, "secret/plans", 1, version));

        Assert.Equal(new[] { expected }, SubackCodes(await client.ReceiveAsync(Suback), version));
        // An allowed filter on the same connection still works.
        await client.SendAsync(SubscribePacket(2, "open/t", 1, version));
        Assert.Equal(new byte[] { 1 }, SubackCodes(await client.ReceiveAsync(Suback), version));
    }

    // A denied PUBLISH is not delivered; MQTT 5 answers PUBACK 0x87 Not authorized (§3.4.2.1).
    [Theory]
    [InlineData(V311)]
    [InlineData(V5)]
    public async Task Publish_DeniedByAcl_NotDelivered(byte version)
    {
        await using var broker = await StartWithAclAsync();
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", "forbidden/#");
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("acl-pub", version));

        await client.SendAsync(PublishPacket("forbidden/x", "must not arrive", 1, 7, version));
        var ack = await client.ReceiveOrCloseAsync();
        if (version == V5)
        {
            Assert.NotNull(ack);
            Assert.Equal(Puback, ack.Type);
            Assert.Equal(0x87, ReasonCode(ack));
        }

        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "forbidden/ok", "-m", "marker"]);
        var first = (await MosquittoClients.MessagesAsync(watcher, 1))[0];
        Assert.Equal(("forbidden/ok", "marker"), (first.Topic, first.Payload));
    }

    // A deny rule for one topic must not refuse wildcard subscriptions that merely overlap it: as in mosquitto 2 and
    // EMQX, "#" is granted and the denied topic is withheld from it, one message at a time (README "Access control").
    private const string OneTopicDenied = """
        {deny, all, subscribe, ["test/nosubscribe"]}.
        {allow, all}.
        """;

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Subscribe_WildcardOverlappingDenyRule_GrantedAndDeniedTopicWithheld(string protocol)
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.AclConf = OneTopicDenied;
            o.MosquittoAcl = "topic deny test/nosubscribe\ntopic readwrite #\n";
        });
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", protocol, "-q", "1", "-t", "#", "-t", "+/+", "-t", "test/+");

        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/nosubscribe", "-m", "hidden"]);
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/ok", "-m", "visible"]);

        // mosquitto_sub gets one copy per message whatever the number of matching subscriptions ([MQTT-3.3.4-2]),
        // and the first message to arrive is the one published second.
        var first = (await MosquittoClients.MessagesAsync(sub, 1))[0];
        Assert.Equal(("test/ok", "visible"), (first.Topic, first.Payload));
        if (!BrokerProcess.UseMosquitto)
        {
            var metrics = await CtlRunner.RunAsync(broker, "broker", "metrics");
            Assert.Matches(@"(?m)^delivery\.dropped\.not_authorized\s+: 1$", metrics.Stdout);
        }
    }

    [Fact]
    public async Task Subscribe_WildcardOverlappingDenyRule_MqttJsSeesGrantedCodesAndOnlyAllowedMessages()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.AclConf = OneTopicDenied);
        await using var script = Interop.StartNode("acl_wildcard.js", broker, new
        {
            filters = new[] { "#", "+/+", "test/+", "test/nosubscribe" },
            publish = new[] { "test/nosubscribe", "other/x", "test/ok" },
        });

        var result = await Interop.ResultAsync(script);

        // SUBACK: QoS 1 granted for the three wildcards, 0x87 Not authorized for the denied topic itself (§3.9.3).
        Assert.Equal(
            """[{"topic":"#","qos":1},{"topic":"+/+","qos":1},{"topic":"test/+","qos":1},{"topic":"test/nosubscribe","qos":135}]""",
            result.GetProperty("granted").GetRawText());
        Assert.Equal(
            """[{"topic":"other/x","payload":"to other/x"},{"topic":"test/ok","payload":"to test/ok"}]""",
            result.GetProperty("received").GetRawText());
    }

    [Fact]
    public async Task AclReload_DenyRuleAdded_ExistingWildcardSubscriptionStopsReceivingThatTopic()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.AclConf = "{allow, all}.\n");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", "#");
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/nosubscribe", "-m", "before"]);
        Assert.Equal("before", (await MosquittoClients.MessagesAsync(sub, 1))[0].Payload);

        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "acl.conf"), OneTopicDenied, TestContext.Current.CancellationToken);
        var reload = await CtlRunner.RunAsync(broker, "acl", "reload");
        Assert.Equal(0, reload.ExitCode);
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/nosubscribe", "-m", "after"]);
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/ok", "-m", "marker"]);

        // The subscription made under the old rules follows the new ones from the reload on.
        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        Assert.Equal([("test/nosubscribe", "before"), ("test/ok", "marker")], messages.Select(m => (m.Topic, m.Payload)));
    }

    [Fact]
    public async Task Metrics_DeliveryDeniedByAcl_VisibleInSysAndPrometheus()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.AclConf = OneTopicDenied;
            o["broker.sys_interval"] = "1s";
        });
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", "#", "-t", "$SYS/brokers/+/metrics/delivery/#");
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "test/nosubscribe", "-m", "hidden"]);

        var topic = $"$SYS/brokers/{broker.NodeName}/metrics/delivery/dropped/not_authorized";
        await sub.WaitForLineAsync(l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l) is { } m && m.Topic == topic && m.Payload == "1",
            TimeSpan.FromSeconds(10), topic + " = 1");
        using var http = broker.CreateManagementClient();
        var prometheus = await http.GetStringAsync("api/v4/prometheus", TestContext.Current.CancellationToken);
        Assert.Matches(@"(?m)^broker_delivery_dropped_not_authorized_total 1$", prometheus);
    }

    // ctl acl cache clean [clientid] (DELETE /api/v4/clients/{clientid}/acl_cache, /api/v4/acl_cache): one connection's
    // cache or every one's; an unknown client is an error (exit 1). What cleaning does is in AuthorizationCacheTests.
    [Fact]
    public async Task AclCacheClean_OneClientOrAll_UnknownClientIsAnError()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.AclConf = "{allow, all}.\n");
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("cached", V5));
        await client.SendAsync(PublishPacket("cache/t", "1", 1, 1, V5));
        Assert.Equal(0x10, ReasonCode(await client.ReceiveAsync(Puback)));

        Assert.Equal(1, (await CtlRunner.RunAsync(broker, "acl", "cache", "clean", "nobody")).ExitCode);
        var clean = await CtlRunner.RunAsync(broker, "acl", "cache", "clean", "cached");
        Assert.Equal((0, "Cleaned the ACL cache of cached"), (clean.ExitCode, clean.Stdout.Trim()));
        var all = await CtlRunner.RunAsync(broker, "acl", "cache", "clean");
        Assert.Equal(0, all.ExitCode);
    }

    // 3.1.1 §3.2.2.3 / 5.0 §3.2.2.2: right password accepted, wrong one refused with 0x04 / 0x86.
    [Theory]
    [InlineData(V311, "alice", "secret", 0x00)]
    [InlineData(V5, "alice", "secret", 0x00)]
    [InlineData(V311, "alice", "wrong", 0x04)]
    [InlineData(V5, "alice", "wrong", 0x86)]
    public async Task Connect_PasswordFile_AcceptsRightAndRefusesWrong(byte version, string user, string password, byte expected)
    {
        await using var broker = await StartWithUsersAsync();
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket($"auth-{version}", version, username: user, password: password));

        Assert.Equal(expected, ConnackCode(await client.ReceiveAsync()));
        if (expected != 0)
        {
            await client.WaitForCloseAsync(); // [MQTT-3.2.2-5] / [MQTT-3.2.2-7]
        }
    }

    // Unknown users and anonymous clients (allow_anonymous = false) are refused:
    // 3.1.1 return code 4 or 5, 5.0 reason 0x86 or 0x87.
    [Theory]
    [InlineData(V311, "mallory", "secret")]
    [InlineData(V5, "mallory", "secret")]
    [InlineData(V311, null, null)]
    [InlineData(V5, null, null)]
    public async Task Connect_UnknownOrAnonymous_Refused(byte version, string? user, string? password)
    {
        await using var broker = await StartWithUsersAsync();
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket($"auth-{version}", version, username: user, password: password));

        var code = ConnackCode(await client.ReceiveAsync());
        Assert.Contains(code, version == V5 ? new byte[] { 0x86, 0x87 } : [0x04, 0x05]);
        await client.WaitForCloseAsync();
    }

    // acl.conf who/placeholder rules, first match wins: {user, U} rules and %u in a topic.
    [Theory]
    [InlineData(V311, "alice", "users/alice/inbox", true)]
    [InlineData(V311, "alice", "users/bob/inbox", false)]
    [InlineData(V5, "bob", "users/bob/inbox", true)]
    [InlineData(V5, "bob", "admin/console", false)]
    [InlineData(V5, "alice", "admin/console", true)]
    public async Task Subscribe_UserRulesAndPlaceholder_FirstMatchingRuleDecides(byte version, string user, string filter, bool allowed)
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["allow_anonymous"] = "false";
            o.Users.Add(("alice", "a-pass"));
            o.Users.Add(("bob", "b-pass"));
            o.AclConf = """
                {allow, {user, "alice"}, subscribe, ["admin/#"]}.
                {deny, all, subscribe, ["admin/#"]}.
                {allow, all, pubsub, ["users/%u/#"]}.
                {deny, all, pubsub, ["users/#"]}.
                {allow, all}.
                """;
            o.MosquittoAcl = """
                user alice
                topic read admin/#
                pattern readwrite users/%u/#
                """;
        });
        await using var client = await RawMqttClient.ConnectMqttAsync(
            broker, ConnectPacket($"acl-{user}", version, username: user, password: user == "alice" ? "a-pass" : "b-pass"));

        await client.SendAsync(SubscribePacket(1, filter, 1, version));

        var code = Assert.Single(SubackCodes(await client.ReceiveAsync(Suback), version));
        Assert.Equal(allowed ? (byte)1 : version == V5 ? (byte)0x87 : (byte)0x80, code);
    }

    private static Task<BrokerProcess> StartWithUsersAsync() => BrokerProcess.StartAsync(o =>
    {
        o["allow_anonymous"] = "false";
        o.Users.Add(("alice", "secret"));
    });
}
