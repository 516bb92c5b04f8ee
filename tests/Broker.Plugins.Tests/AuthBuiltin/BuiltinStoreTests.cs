using System.Text.Json;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Plugins.Auth;
using Broker.Plugins.AuthBuiltin;

namespace Broker.Plugins.Tests.AuthBuiltin;

/// <summary>auth_builtin's file: written atomically, read back the same, refused with the file's name when corrupt.</summary>
public sealed class BuiltinStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("auth-builtin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string FilePath => Path.Combine(_dir, "auth_builtin.json");

    private static Rule ParseRule(string json)
    {
        using var document = JsonDocument.Parse(json);
        Assert.True(Rule.TryParse(document.RootElement, out var rule, out var problem), problem);
        return rule;
    }

    private static User NewUser(string login, bool superuser = false) =>
        new(login, StoredPassword.Create("pw-" + login, new AuthBuiltinOptions { Pbkdf2Iterations = 1 }), superuser);

    [Fact]
    public void Change_WritesTheFileAtomically_AndAReopenReadsTheSameData()
    {
        var store = BuiltinStore.Open(FilePath);
        Assert.Empty(store.Current.Usernames);
        Assert.False(File.Exists(FilePath)); // nothing written until something changes
        store.Change(data =>
        {
            data.Usernames.Add("alice", NewUser("alice", superuser: true));
            data.ClientIds.Add("dev-1", NewUser("dev-1"));
            data.Rules.Add(ParseRule("""{"username":"alice","topic":"a/%u/#","action":"pub","access":"allow"}"""));
            data.Rules.Add(ParseRule("""{"clientid":"dev-1","topic":"b","action":"sub","access":"deny"}"""));
            data.Rules.Add(ParseRule("""{"topic":"#","action":"pubsub","access":"deny"}"""));
            return data.Changed = true;
        });

        Assert.Equal([Path.GetFileName(FilePath)], Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName)); // no temporary file left
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(FilePath));
        var again = BuiltinStore.Open(FilePath).Current;
        Assert.True(again.Usernames["alice"].IsSuperuser);
        Assert.Equal(store.Current.Usernames["alice"].Password.Encoded, again.Usernames["alice"].Password.Encoded);
        Assert.False(again.ClientIds["dev-1"].IsSuperuser);
        Assert.Equal(store.Current.Rules, again.Rules);
    }

    [Fact]
    public void Change_WhenTheWriteFails_ChangesNothing_LeavesNoTemporaryFile()
    {
        Directory.CreateDirectory(FilePath); // the rename over it fails
        var store = BuiltinStore.Open(FilePath);
        var ex = Assert.ThrowsAny<Exception>(() => store.Change(data =>
        {
            data.Usernames.Add("alice", NewUser("alice"));
            return data.Changed = true;
        }));
        Assert.True(ex is IOException or UnauthorizedAccessException, ex.ToString());
        Assert.Empty(store.Current.Usernames);
        Assert.Equal([Path.GetFileName(FilePath)], Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("{ not json", "not valid JSON (line 1)")]
    [InlineData("[]", "expected a JSON object")]
    [InlineData("""{"version": 2}""", "\"version\" must be 1")]
    [InlineData("""{"version": 1, "auth_username": [{"username": "a", "password": "plain"}]}""", "auth_username[0] (a): \"password\" is not a password hash")]
    [InlineData("""{"version": 1, "acl": [{"username": 5, "topic": "#", "action": "pub", "access": "allow"}]}""", "acl[0]: \"username\" must be a string")]
    [InlineData("""{"version": 1, "acl": [{"topic": "a/#/b", "action": "pub", "access": "allow"}]}""", "acl[0]: \"topic\" 'a/#/b' is not a valid topic filter")]
    public void Open_CorruptFile_IsRefusedNamingTheFile(string content, string why)
    {
        File.WriteAllText(FilePath, content);
        var ex = Assert.Throws<InvalidDataException>(() => BuiltinStore.Open(FilePath));
        Assert.StartsWith(FilePath + ": ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
    }

    // EMQX 4's order: the client id's rules, then the user name's, then $all; each in the order added.
    [Fact]
    public void RulesFor_ClientIdThenUsernameThenAll_InTheOrderAdded()
    {
        var data = new BuiltinData(new(StringComparer.Ordinal), new(StringComparer.Ordinal),
        [
            ParseRule("""{"topic":"t","action":"pub","access":"deny"}"""),
            ParseRule("""{"username":"alice","topic":"t","action":"pub","access":"allow"}"""),
            ParseRule("""{"clientid":"c1","topic":"t","action":"pub","access":"deny"}"""),
            ParseRule("""{"username":"bob","topic":"t","action":"pub","access":"allow"}"""),
        ]);
        var alice = new ClientInfo { ClientId = "c2", Username = "alice" };
        Assert.Equal(AuthorizationResult.Allow, data.RulesFor(alice).Check(alice, AclAccess.Publish, "t"));
        var aliceOnC1 = new ClientInfo { ClientId = "c1", Username = "alice" };
        Assert.Equal(AuthorizationResult.Deny, data.RulesFor(aliceOnC1).Check(aliceOnC1, AclAccess.Publish, "t"));
        var anonymous = new ClientInfo { ClientId = "c3" };
        Assert.Equal(AuthorizationResult.Deny, data.RulesFor(anonymous).Check(anonymous, AclAccess.Publish, "t"));
        Assert.Equal(AuthorizationResult.Ignore, data.RulesFor(anonymous).Check(anonymous, AclAccess.Subscribe, "t"));
    }

    [Theory]
    [InlineData("""{"topic":"t","action":"pub"}""", "\"access\" is missing")]
    [InlineData("""{"topic":"t","access":"allow"}""", "\"action\" is missing")]
    [InlineData("""{"action":"pub","access":"allow"}""", "\"topic\" is missing")]
    [InlineData("""{"topic":"t","action":"publish","access":"allow"}""", "\"action\" must be pub, sub or pubsub")]
    [InlineData("""{"topic":"t","action":"pub","access":"yes"}""", "\"access\" must be allow or deny")]
    [InlineData("""{"username":"u","clientid":"c","topic":"t","action":"pub","access":"allow"}""", "not both")]
    [InlineData("""{"username":"","topic":"t","action":"pub","access":"allow"}""", "cannot be empty")]
    [InlineData("""["t"]""", "a rule is a JSON object")]
    public void RuleTryParse_Bad_SaysWhy(string json, string why)
    {
        using var document = JsonDocument.Parse(json);
        Assert.False(Rule.TryParse(document.RootElement, out _, out var problem));
        Assert.Contains(why, problem, StringComparison.Ordinal);
    }
}
