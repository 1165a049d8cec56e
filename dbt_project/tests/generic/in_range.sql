{#- Metric range: every non-NULL value is >= minimum (and <= maximum when given). -#}
{% test in_range(model, column_name, minimum=none, maximum=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and ({% if minimum is not none %}{{ column_name }} < {{ minimum }}{% else %}false{% endif %}
       or {% if maximum is not none %}{{ column_name }} > {{ maximum }}{% else %}false{% endif %})
{% endtest %}
