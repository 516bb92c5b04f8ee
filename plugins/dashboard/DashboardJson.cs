using System.Text.Json.Serialization;

namespace Broker.Plugins.Dashboard;

internal sealed class SignIn
{
    [JsonPropertyName("username")]
    public string? Username { get; init; }

    [JsonPropertyName("password")]
    public string? Password { get; init; }
}

internal sealed class PasswordChange
{
    [JsonPropertyName("old_password")]
    public string? OldPassword { get; init; }

    [JsonPropertyName("new_password")]
    public string? NewPassword { get; init; }
}

internal sealed class AdminInput
{
    [JsonPropertyName("username")]
    public string? Username { get; init; }

    [JsonPropertyName("password")]
    public string? Password { get; init; }

    [JsonPropertyName("description")]
    public string? Description { get; init; }
}

internal sealed class SessionView
{
    [JsonPropertyName("username")]
    public required string Username { get; init; }

    [JsonPropertyName("must_change_password")]
    public bool MustChangePassword { get; init; }

    [JsonPropertyName("csrf_token")]
    public required string CsrfToken { get; init; }
}

internal sealed class AdminView
{
    [JsonPropertyName("username")]
    public required string Username { get; init; }

    [JsonPropertyName("description")]
    public required string Description { get; init; }

    [JsonPropertyName("must_change_password")]
    public bool MustChangePassword { get; init; }
}

/// <summary>EMQX 4's envelope: <c>{"code":0,"data":...}</c>, or <c>{"code":n,"message":"..."}</c>.</summary>
internal sealed class Answer<T>
{
    [JsonPropertyName("code")]
    public int Code { get; init; }

    [JsonPropertyName("data")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public T? Data { get; init; }

    [JsonPropertyName("message")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Message { get; init; }
}

/// <summary>
/// Source-generated: reflection-based System.Text.Json would cache this plugin's types in the shared framework's
/// default options, which would keep the unloaded plugin's load context alive.
/// </summary>
[JsonSerializable(typeof(List<Admin>))]
[JsonSerializable(typeof(SignIn))]
[JsonSerializable(typeof(PasswordChange))]
[JsonSerializable(typeof(AdminInput))]
[JsonSerializable(typeof(Answer<SessionView>))]
[JsonSerializable(typeof(Answer<AdminView[]>))]
[JsonSerializable(typeof(Answer<object>))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class DashboardJson : JsonSerializerContext;
