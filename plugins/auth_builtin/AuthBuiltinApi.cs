using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>
/// EMQX 4's emqx_auth_mnesia API at the management API's root (<see cref="IPluginHttp.MapRoot"/>), with its
/// authentication and its envelope: <c>{"code":0,"data":...}</c> (lists add <c>meta</c>), errors
/// <c>{"code":N,"message":"..."}</c> with 400 (107 missing field, 108 bad value, 109 not JSON), 404 (unknown user or
/// rule) or 409 (user exists).
/// </summary>
/// <remarks>
/// <c>/auth_username</c> and <c>/auth_clientid</c>: GET (list), POST (one object or an array), GET/PUT/DELETE
/// <c>/{name}</c>; <c>POST /auth_username/import</c> takes a mosquitto_passwd or etc/passwd file. <c>/acl</c>: GET (every
/// rule, in judging order per login), POST (one or an array); GET <c>/acl/username</c>, <c>/acl/clientid</c>,
/// <c>/acl/$all</c> (a kind); GET/DELETE <c>/acl/username/{u}</c>, <c>/acl/clientid/{c}</c>, DELETE <c>/acl/$all</c>
/// (a login's rules); DELETE <c>.../topic/{topic}</c> (a login's rules for that topic, URL-encoded or not).
/// </remarks>
internal sealed class AuthBuiltinApi(BuiltinStore store, AuthBuiltinOptions options, Action rulesChanged)
{
    private const int MissingField = 107;
    private const int BadValue = 108;
    private const int BadJson = 109;
    private const int NotFound = 404;
    private const int MaxLimit = 10_000;

    /// <summary>Maps every endpoint; the registrations end with the plugin.</summary>
    public IEnumerable<IDisposable> Map(IPluginHttp http)
    {
        foreach (var (table, path) in new[] { (UserTable.Username, "auth_username"), (UserTable.ClientId, "auth_clientid") })
        {
            var field = LoginField(table);
            yield return http.MapRoot("GET", path, Sync(r => ListUsers(table, r)));
            yield return http.MapRoot("POST", path, (r, _) => AddUsersAsync(table, r));
            yield return http.MapRoot("GET", $"{path}/{{{field}}}", Sync(r => ShowUser(table, r.RouteValues[field])));
            yield return http.MapRoot("PUT", $"{path}/{{{field}}}", (r, _) => UpdateUserAsync(table, r.RouteValues[field], r));
            yield return http.MapRoot("DELETE", $"{path}/{{{field}}}", Sync(r => DeleteUser(table, r.RouteValues[field])));
        }
        yield return http.MapRoot("POST", "auth_username/import", Sync(Import));

        yield return http.MapRoot("GET", "acl", Sync(r => ListRules(r, _ => true)));
        yield return http.MapRoot("POST", "acl", Sync(AddRules));
        foreach (var (kind, segment) in new[] { (RuleLogin.Username, "username"), (RuleLogin.ClientId, "clientid") })
        {
            yield return http.MapRoot("GET", $"acl/{segment}", Sync(r => ListRules(r, rule => rule.Kind == kind)));
            yield return http.MapRoot("GET", $"acl/{segment}/{{login}}", Sync(r => ListRules(r, rule => rule.Kind == kind && rule.Login == r.RouteValues["login"])));
            yield return http.MapRoot("DELETE", $"acl/{segment}/{{login}}", Sync(r => DeleteRules(kind, r.RouteValues["login"], null)));
            yield return http.MapRoot("DELETE", $"acl/{segment}/{{login}}/topic/{{**topic}}", Sync(r => DeleteRules(kind, r.RouteValues["login"], r.RouteValues["topic"])));
        }
        yield return http.MapRoot("GET", "acl/$all", Sync(r => ListRules(r, rule => rule.Kind == RuleLogin.All)));
        yield return http.MapRoot("DELETE", "acl/$all", Sync(_ => DeleteRules(RuleLogin.All, Rule.All, null)));
        yield return http.MapRoot("DELETE", "acl/$all/topic/{**topic}", Sync(r => DeleteRules(RuleLogin.All, Rule.All, r.RouteValues["topic"])));
    }

    private static Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> Sync(Func<PluginHttpRequest, PluginHttpResponse> handler) =>
        (request, _) => ValueTask.FromResult(handler(request));

    private static string LoginField(UserTable table) => table == UserTable.Username ? "username" : "clientid";

    private static string TableName(UserTable table) => table == UserTable.Username ? "user name" : "client id";

    // ---- users ----

    private PluginHttpResponse ListUsers(UserTable table, PluginHttpRequest request)
    {
        if (!TryPage(request, out var page, out var limit, out var error))
            return error;
        var users = store.Current.Table(table).Values.OrderBy(u => u.Login, StringComparer.Ordinal).ToList();
        return Page(users, page, limit, (json, user) => WriteUser(json, table, user));
    }

    private PluginHttpResponse ShowUser(UserTable table, string login) =>
        store.Current.Table(table).TryGetValue(login, out var user)
            ? Ok(json => WriteUser(json, table, user))
            : Error(404, NotFound, $"no {TableName(table)} '{login}'");

    private static void WriteUser(Utf8JsonWriter json, UserTable table, User user)
    {
        // EMQX 4 also shows the stored hash; it is left out here: nobody needs it to manage users.
        json.WriteStartObject();
        json.WriteString(LoginField(table), user.Login);
        json.WriteBoolean("is_superuser", user.IsSuperuser);
        json.WriteEndObject();
    }

    private async ValueTask<PluginHttpResponse> AddUsersAsync(UserTable table, PluginHttpRequest request)
    {
        if (!TryParseBody(request, out var document, out var error))
            return error;
        using (document)
        {
            var root = document.RootElement;
            var items = root.ValueKind == JsonValueKind.Array ? [.. root.EnumerateArray()] : new[] { root };
            var parsed = new List<(string Login, string Password, bool Superuser)>();
            for (var i = 0; i < items.Length; i++)
            {
                if (!TryReadNewUser(table, items[i], out var user, out error, root.ValueKind == JsonValueKind.Array ? $"[{i}]: " : ""))
                    return error;
                parsed.Add(user);
            }
            // Hash outside the store's lock, and off the caller's thread: PBKDF2 and bcrypt are slow on purpose.
            var users = await Task.Run(() => parsed.Select(u => new User(u.Login, StoredPassword.Create(u.Password, options), u.Superuser)).ToList()).ConfigureAwait(false);
            var results = store.Change(data =>
            {
                var outcome = new List<(string Login, bool Added)>();
                foreach (var user in users)
                {
                    var added = data.Table(table).TryAdd(user.Login, user);
                    data.Changed |= added;
                    outcome.Add((user.Login, added));
                }
                return outcome;
            });
            if (root.ValueKind != JsonValueKind.Array)
            {
                return results[0].Added
                    ? Ok(json => WriteUser(json, table, users[0]))
                    : Error(409, BadValue, $"{TableName(table)} '{results[0].Login}' exists already: PUT /api/v4/{(table == UserTable.Username ? "auth_username" : "auth_clientid")}/{results[0].Login} changes it");
            }
            return Ok(json =>
            {
                json.WriteStartObject();
                foreach (var (login, added) in results)
                    json.WriteString(login, added ? "ok" : "exists already");
                json.WriteEndObject();
            });
        }
    }

    private static bool TryReadNewUser(UserTable table, JsonElement item, out (string Login, string Password, bool Superuser) user, out PluginHttpResponse error, string where)
    {
        user = default;
        var field = LoginField(table);
        if (item.ValueKind != JsonValueKind.Object)
            return Fail(out error, 400, BadJson, $"{where}expected an object {{\"{field}\": ..., \"password\": ..., \"is_superuser\": false}}");
        if (!TryString(item, field, out var login, out error, where) || !TryString(item, "password", out var password, out error, where)
            || !TryBool(item, "is_superuser", out var superuser, out error, where))
            return false;
        if (login is null or "")
            return Fail(out error, 400, MissingField, $"{where}\"{field}\" is missing or empty");
        if (password is null)
            return Fail(out error, 400, MissingField, $"{where}\"password\" is missing");
        user = (login, password, superuser ?? false);
        return true;
    }

    private async ValueTask<PluginHttpResponse> UpdateUserAsync(UserTable table, string login, PluginHttpRequest request)
    {
        if (!TryParseBody(request, out var document, out var error))
            return error;
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Error(400, BadJson, "expected an object {\"password\": ..., \"is_superuser\": ...}");
            if (!TryString(root, "password", out var password, out error, "") || !TryBool(root, "is_superuser", out var superuser, out error, ""))
                return error;
            if (password is null && superuser is null)
                return Error(400, MissingField, "give \"password\", \"is_superuser\" or both");
            if (!store.Current.Table(table).ContainsKey(login))
                return Error(404, NotFound, $"no {TableName(table)} '{login}'");
            var hash = password is null ? null : await Task.Run(() => StoredPassword.Create(password, options)).ConfigureAwait(false);
            var found = store.Change(data =>
            {
                if (!data.Table(table).TryGetValue(login, out var current))
                    return false; // deleted meanwhile
                data.Table(table)[login] = current with { Password = hash ?? current.Password, IsSuperuser = superuser ?? current.IsSuperuser };
                data.Changed = true;
                return true;
            });
            return found ? Ok(null) : Error(404, NotFound, $"no {TableName(table)} '{login}'");
        }
    }

    private PluginHttpResponse DeleteUser(UserTable table, string login) =>
        store.Change(data => data.Changed = data.Table(table).Remove(login))
            ? Ok(null)
            : Error(404, NotFound, $"no {TableName(table)} '{login}'");

    /// <summary>
    /// <c>POST /auth_username/import</c> <c>{"format": "mosquitto" | "passwd" | "auto", "content": "user:hash\n..."}</c>:
    /// every line's user is added, or has its password replaced (its superuser flag is kept). All or nothing: a bad
    /// line is a 400 naming it, and nothing is imported.
    /// </summary>
    private PluginHttpResponse Import(PluginHttpRequest request)
    {
        if (!TryParseBody(request, out var document, out var error))
            return error;
        List<User> users;
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Error(400, BadJson, "expected an object {\"format\": \"mosquitto\" | \"passwd\" | \"auto\", \"content\": \"...\"}");
            if (!TryString(root, "content", out var content, out error, "") || !TryString(root, "format", out var format, out error, ""))
                return error;
            if (content is null)
                return Error(400, MissingField, "\"content\" (the file's text) is missing");
            if (!PasswordImport.TryParseFormat(format ?? "auto", out var kind))
                return Error(400, BadValue, $"\"format\" must be mosquitto, passwd or auto, not '{format}'");
            if (!PasswordImport.TryParse(content, kind, out users, out var problem))
                return Error(400, BadValue, problem);
        }
        var (added, updated) = store.Change(data =>
        {
            int add = 0, update = 0;
            foreach (var user in users)
            {
                if (data.Usernames.TryGetValue(user.Login, out var current))
                {
                    data.Usernames[user.Login] = current with { Password = user.Password };
                    update++;
                }
                else
                {
                    data.Usernames.Add(user.Login, user);
                    add++;
                }
            }
            data.Changed = users.Count > 0;
            return (add, update);
        });
        return Ok(json =>
        {
            json.WriteStartObject();
            json.WriteNumber("added", added);
            json.WriteNumber("updated", updated);
            json.WriteEndObject();
        });
    }

    // ---- rules ----

    private PluginHttpResponse ListRules(PluginHttpRequest request, Func<Rule, bool> which)
    {
        if (!TryPage(request, out var page, out var limit, out var error))
            return error;
        return Page([.. store.Current.Rules.Where(which)], page, limit, (json, rule) => BuiltinStore.WriteRule(json, rule));
    }

    private PluginHttpResponse AddRules(PluginHttpRequest request)
    {
        if (!TryParseBody(request, out var document, out var error))
            return error;
        using (document)
        {
            var root = document.RootElement;
            var items = root.ValueKind == JsonValueKind.Array ? [.. root.EnumerateArray()] : new[] { root };
            var rules = new List<Rule>();
            for (var i = 0; i < items.Length; i++)
            {
                if (!Rule.TryParse(items[i], out var rule, out var problem))
                {
                    var code = problem.EndsWith(" is missing", StringComparison.Ordinal) ? MissingField
                        : problem.EndsWith(" must be a string", StringComparison.Ordinal) || problem.StartsWith("a rule is a JSON object", StringComparison.Ordinal) ? BadJson
                        : BadValue;
                    return Error(400, code, (root.ValueKind == JsonValueKind.Array ? $"[{i}]: " : "") + problem);
                }
                rules.Add(rule);
            }
            store.Change(data =>
            {
                foreach (var rule in rules)
                {
                    var index = data.Rules.FindIndex(r => r.SameEntry(rule));
                    if (index >= 0)
                        data.Rules[index] = rule; // EMQX 4: the same login, topic and action is one rule
                    else
                        data.Rules.Add(rule);
                }
                return data.Changed = true;
            });
            rulesChanged();
            return Ok(json =>
            {
                if (root.ValueKind == JsonValueKind.Array)
                    json.WriteStartArray();
                foreach (var rule in rules)
                    BuiltinStore.WriteRule(json, rule, result: "ok");
                if (root.ValueKind == JsonValueKind.Array)
                    json.WriteEndArray();
            });
        }
    }

    private PluginHttpResponse DeleteRules(RuleLogin kind, string login, string? topic)
    {
        var removed = store.Change(data =>
        {
            var count = data.Rules.RemoveAll(r => r.Kind == kind && r.Login == login && (topic is null || r.Topic == topic));
            data.Changed = count > 0;
            return count;
        });
        if (removed == 0)
            return Error(404, NotFound, topic is null ? $"no rules for {Describe(kind, login)}" : $"no rule for {Describe(kind, login)} on topic '{topic}'");
        rulesChanged();
        return Ok(null);
    }

    private static string Describe(RuleLogin kind, string login) => kind switch
    {
        RuleLogin.Username => $"username '{login}'",
        RuleLogin.ClientId => $"clientid '{login}'",
        _ => "$all",
    };

    // ---- the envelope ----

    private static PluginHttpResponse Ok(Action<Utf8JsonWriter>? data) => Json(200, json =>
    {
        json.WriteNumber("code", 0);
        if (data is not null)
        {
            json.WritePropertyName("data");
            data(json);
        }
    });

    private static PluginHttpResponse Page<T>(List<T> all, int page, int limit, Action<Utf8JsonWriter, T> write) => Json(200, json =>
    {
        json.WriteNumber("code", 0);
        json.WriteStartArray("data");
        foreach (var item in all.Skip((page - 1) * limit).Take(limit))
            write(json, item);
        json.WriteEndArray();
        json.WriteStartObject("meta");
        json.WriteNumber("page", page);
        json.WriteNumber("limit", limit);
        json.WriteNumber("count", all.Count);
        json.WriteBoolean("hasnext", (long)page * limit < all.Count);
        json.WriteEndObject();
    });

    private static PluginHttpResponse Error(int status, int code, string message) => Json(status, json =>
    {
        json.WriteNumber("code", code);
        json.WriteString("message", message);
    });

    private static bool Fail(out PluginHttpResponse error, int status, int code, string message)
    {
        error = Error(status, code, message);
        return false;
    }

    private static PluginHttpResponse Json(int status, Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        return PluginHttpResponse.Json(Encoding.UTF8.GetString(buffer.ToArray()), status);
    }

    private static bool TryParseBody(PluginHttpRequest request, out JsonDocument document, out PluginHttpResponse error)
    {
        document = null!;
        error = null!;
        try
        {
            document = JsonDocument.Parse(request.Body);
            return true;
        }
        catch (JsonException ex)
        {
            return Fail(out error, 400, BadJson, $"the body is not JSON: {ex.Message}");
        }
    }

    private static bool TryString(JsonElement item, string name, out string? value, out PluginHttpResponse error, string where)
    {
        value = null;
        error = null!;
        if (!item.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
            return true;
        if (element.ValueKind != JsonValueKind.String)
            return Fail(out error, 400, BadJson, $"{where}\"{name}\" must be a string");
        value = element.GetString();
        return true;
    }

    private static bool TryBool(JsonElement item, string name, out bool? value, out PluginHttpResponse error, string where)
    {
        value = null;
        error = null!;
        if (!item.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
            return true;
        if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            return Fail(out error, 400, BadJson, $"{where}\"{name}\" must be true or false");
        value = element.GetBoolean();
        return true;
    }

    private static bool TryPage(PluginHttpRequest request, out int page, out int limit, out PluginHttpResponse error)
    {
        page = 1;
        limit = MaxLimit;
        error = null!;
        if (request.Query.TryGetValue("_page", out var p) && !(int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out page) && page >= 1))
            return Fail(out error, 400, BadValue, $"_page must be a positive integer, not '{p}'");
        if (request.Query.TryGetValue("_limit", out var l) && !(int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxLimit))
            return Fail(out error, 400, BadValue, $"_limit must be between 1 and {MaxLimit}, not '{l}'");
        return true;
    }
}
