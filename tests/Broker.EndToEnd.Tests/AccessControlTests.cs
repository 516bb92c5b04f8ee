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
