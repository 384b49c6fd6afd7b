-- Argo CD health of a sluice.dev Promotion (Lua 5.1, as Argo CD runs it).
-- AwaitingApproval -> Suspended, Pending/Promoting -> Progressing, Promoted -> Healthy,
-- Rejected/Failed/Superseded or Stalled -> Degraded; a status older than the spec -> Progressing.
local hs = {}

local function condition(status, kind)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function capitalized(text)
  return string.upper(string.sub(text, 1, 1)) .. string.sub(text, 2)
end

-- "name: message; ..." of the gates that have not passed.
local function waiting_gates(status)
  local parts = {}
  if type(status.gates) == "table" then
    for _, gate in ipairs(status.gates) do
      if gate.state ~= "Passed" then
        local part = gate.name
        if gate.message ~= nil and gate.message ~= "" then
          part = part .. ": " .. gate.message
        end
        table.insert(parts, part)
      end
    end
  end
  return table.concat(parts, "; ")
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the Promotion"
  return hs
end
local status = obj.status
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

local phase = status.phase
local detail = status.message
if detail == nil or detail == "" then
  local ready = condition(status, "Ready")
  if ready ~= nil and ready.message ~= nil then
    detail = ready.message
  else
    detail = ""
  end
end

if phase == "AwaitingApproval" then
  hs.status = "Suspended"
  hs.message = "Awaiting approval"
  if status.approvalCount ~= nil then
    hs.message = hs.message .. " (" .. status.approvalCount .. ")"
  end
  hs.message = hs.message .. ": kubectl sluice approve " .. obj.metadata.name
elseif phase == "Promoted" then
  hs.status = "Healthy"
  hs.message = "Promoted"
  if status.release ~= nil and status.release.id ~= nil then
    hs.message = "Promoted: release " .. status.release.id .. " is live"
  end
elseif phase == "Promoting" then
  hs.status = "Progressing"
  hs.message = "Promoting: flipping the environment"
elseif phase == "Rejected" then
  hs.status = "Degraded"
  if detail ~= "" then
    hs.message = capitalized(detail)
  elseif status.rejectedBy ~= nil then
    hs.message = "Rejected by " .. status.rejectedBy
  else
    hs.message = "Rejected"
  end
elseif phase == "Failed" or phase == "Superseded" then
  hs.status = "Degraded"
  hs.message = phase
  if detail ~= "" then
    hs.message = phase .. ": " .. detail
  end
else
  -- Pending (gates still closed), or a phase this check does not know yet.
  hs.status = "Progressing"
  local gates = waiting_gates(status)
  if gates ~= "" then
    hs.message = "Waiting for gates: " .. gates
  else
    hs.message = phase
  end
end
return hs
